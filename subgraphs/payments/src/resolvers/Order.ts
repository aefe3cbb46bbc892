import type { OrderResolvers } from '../__generated__/resolvers-types.ts';
import { findPaymentOfOrder } from '../modules/payment/find-payment.ts';

export const Order: OrderResolvers = {
  __resolveReference: (reference) => reference,
  payment: (order, _args, ctx) => findPaymentOfOrder(ctx, order.id),
};
