import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { findOrder } from '../modules/order/find-order.ts';

export const Query: QueryResolvers = {
  order: (_parent, { id }, ctx) => findOrder(ctx, id),
};
