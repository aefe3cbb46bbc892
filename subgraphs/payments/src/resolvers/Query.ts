import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { findPayment } from '../modules/payment/find-payment.ts';

export const Query: QueryResolvers = {
  payment: (_parent, { id }, ctx) => findPayment(ctx, id),
};
