import type { PaymentResolvers } from '../__generated__/resolvers-types.ts';
import { findPayment } from '../modules/payment/find-payment.ts';

export const Payment: PaymentResolvers = {
  __resolveReference: (reference, ctx) => findPayment(ctx, reference.id),
  amount: (payment) => ({ amount: payment.amount, currency: payment.currency }),
  createdAt: (payment) => payment.createdAt.toISOString(),
  updatedAt: (payment) => payment.updatedAt.toISOString(),
};
