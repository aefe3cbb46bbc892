import { EntityRepository } from '@mikro-orm/postgresql';
import type { PaymentEntity } from './payment.entity.ts';

export class PaymentRepository extends EntityRepository<PaymentEntity> {
  findForOrders(orderIds: readonly string[]): Promise<PaymentEntity[]> {
    return orderIds.length === 0 ? Promise.resolve([]) : this.find({ orderId: { $in: [...orderIds] } });
  }
}
