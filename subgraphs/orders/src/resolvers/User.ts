import { requireOwnerOrAdmin } from '@agora/service';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

export const User: UserResolvers = {
  orders(user, _args, ctx) {
    requireOwnerOrAdmin(ctx.caller, user.id);
    return ctx.orders.findOwnedBy(user.id);
  },
};
