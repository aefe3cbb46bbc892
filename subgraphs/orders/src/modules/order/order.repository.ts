import { EntityRepository } from '@mikro-orm/postgresql';
import { badInput } from '@agora/service';
import type { OrderEntity } from './order.entity.ts';

export class OrderRepository extends EntityRepository<OrderEntity> {
  /** A page of a customer's orders with their lines, newest first, after the order `after` (keyset paging). */
  async findOwnedBy(customerId: string, first: number, after?: string): Promise<OrderEntity[]> {
    const where: Record<string, unknown> = { customerId };
    if (after) {
      const cursor = await this.findOne({ id: after, customerId });
      // An unknown cursor answered with the first page would make a client page forever.
      if (!cursor) throw badInput(`after must be the id of one of this user's orders (the last order of the previous page)`, { after });
      where['$or'] = [{ createdAt: { $lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { $gt: cursor.id } }];
    }
    return this.find(where, { populate: ['lines'], orderBy: { createdAt: 'desc', id: 'asc' }, limit: first });
  }
}
