import { badInput, forbidden, parseId, requireCaller, requireOwnerOrAdmin } from '@agora/service';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

export const User: UserResolvers = {
  orders(user, { first, after }, ctx) {
    requireOwnerOrAdmin(ctx.caller, user.id, { log: ctx.log, action: 'orders.userOrders.read', resource: `user:${user.id}` });
    const size = first;
    if (size < 1 || size > 100) throw badInput('first must be between 1 and 100');
    return ctx.orders.findOwnedBy(user.id, size, after ? parseId(after) : undefined);
  },
  async cart(user, _args, ctx) {
    const caller = requireCaller(ctx.caller);
    if (caller.sub !== user.id) throw forbidden('A cart is visible to its owner only');
    return (await ctx.commerce().carts.read(user.id)).cart;
  },
};
