import { notFound, requireAdmin } from '@agora/service';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { currentUser } from '../modules/user/current-user.ts';

export const Query: QueryResolvers = {
  me: (_parent, _args, ctx) => currentUser(ctx),
  async user(_parent, { id }, ctx) {
    requireAdmin(ctx.caller, { log: ctx.log, action: 'users.user.read', resource: `user:${id}` });
    const user = await ctx.userById.load(id);
    if (!user) throw notFound('User', id);
    return user;
  },
};
