import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { User } from '../modules/user/user.entity.ts';
import { devUsers } from './dev-users.ts';

/** Inserts the realm's dev users; existing rows are left as they are. */
export class DatabaseSeeder extends Seeder {
  async run(em: EntityManager): Promise<void> {
    const now = new Date();
    await em.upsertMany(User, devUsers.map((user) => ({ ...user, createdAt: now, updatedAt: now })), {
      onConflictFields: ['id'],
      onConflictAction: 'ignore',
    });
  }
}
