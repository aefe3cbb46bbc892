import type { OrderResolvers } from '../__generated__/resolvers-types.ts';
import { findOrder } from '../modules/order/find-order.ts';

export const Order: OrderResolvers = {
  __resolveReference: (reference, ctx) => findOrder(ctx, reference.id),
  customer: (order) => ({ id: order.customerId }),
  lines: (order) => order.lines.getItems(),
  total: (order) => ({ amount: order.totalAmount, currency: order.currency }),
  createdAt: (order) => order.createdAt.toISOString(),
  updatedAt: (order) => order.updatedAt.toISOString(),
  saga: (order) => ({ order }),
};
