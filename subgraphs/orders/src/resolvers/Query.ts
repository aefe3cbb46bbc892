import { badInput, requireAdmin } from '@agora/service';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { findOrder } from '../modules/order/find-order.ts';
import { sagaPage } from '../modules/saga/saga-queries.ts';

export const Query: QueryResolvers = {
  order: (_parent, { id }, ctx) => findOrder(ctx, id),
  async sagas(_parent, { status, first, after }, ctx) {
    requireAdmin(ctx.caller, { log: ctx.log, action: 'orders.sagas.read', resource: `sagas:${status ?? 'ALL'}` });
    const size = first;
    if (size < 1 || size > 100) throw badInput('first must be between 1 and 100');
    const page = await sagaPage(ctx.em, status ?? undefined, size, after ?? undefined);
    return { nodes: page.orders.map((order) => ({ order })), endCursor: page.orders.at(-1)?.id ?? null, hasNextPage: page.hasNextPage };
  },
};
