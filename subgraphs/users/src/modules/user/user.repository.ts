import { EntityRepository } from '@mikro-orm/postgresql';
import type { Caller } from '@agora/auth';
import { User, type UserEntity } from './user.entity.ts';

export class UserRepository extends EntityRepository<UserEntity> {
  /** The caller's user row, inserted from the token's claims the first time they are seen. */
  async findOrCreateFromToken(caller: Caller): Promise<UserEntity> {
    const existing = await this.findOne({ id: caller.sub });
    if (existing) return existing;
    await this.getEntityManager().insert(
      User,
      {
        id: caller.sub,
        username: caller.username,
        email: caller.email ?? '',
        firstName: caller.givenName ?? null,
        lastName: caller.familyName ?? null,
        phoneNumber: null,
        createdAt: new Date(),
        updatedAt: new Date(),
      },
      // A concurrent first request may have inserted the row already.
      { onConflictAction: 'ignore', onConflictFields: ['id'] } as never,
    );
    return this.findOneOrFail({ id: caller.sub });
  }
}
