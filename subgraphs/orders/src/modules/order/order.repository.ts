import { EntityRepository } from '@mikro-orm/postgresql';
import type { OrderEntity } from './order.entity.ts';

export class OrderRepository extends EntityRepository<OrderEntity> {
  /** A customer's orders with their lines, newest first. */
  findOwnedBy(customerId: string): Promise<OrderEntity[]> {
    return this.find({ customerId }, { populate: ['lines'], orderBy: { createdAt: 'desc', id: 'asc' } });
  }
}
