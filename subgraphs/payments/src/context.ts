import { byIdLoader, byKeyLoader, type BaseContext, type Loader } from '@agora/service';
import { Payment, type PaymentEntity } from './modules/payment/payment.entity.ts';
import type { PaymentRepository } from './modules/payment/payment.repository.ts';

export interface Context extends BaseContext {
  payments: PaymentRepository;
  paymentById: Loader<string, PaymentEntity | null>;
  paymentsByOrderId: Loader<string, PaymentEntity[]>;
}

export function buildContext(base: BaseContext): Context {
  const payments = base.em.getRepository(Payment);
  return {
    ...base,
    payments,
    paymentById: byIdLoader(base.em, Payment),
    paymentsByOrderId: byKeyLoader((orderIds) => payments.findForOrders(orderIds), (payment) => payment.orderId),
  };
}
