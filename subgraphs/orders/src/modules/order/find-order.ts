import { notFound, parseId, requireOwnerOrAdmin } from '@agora/service';
import type { Context } from '../../context.ts';
import type { OrderEntity } from './order.entity.ts';

/** The order with this id, if the caller owns it or is an admin. */
export async function findOrder(ctx: Context, id: string): Promise<OrderEntity> {
  const order = await ctx.orderById.load(parseId(id));
  if (!order) throw notFound('Order', id);
  requireOwnerOrAdmin(ctx.caller, order.customerId, { log: ctx.log, action: 'orders.order.read', resource: `order:${order.id}` });
  return order;
}
