import { requireOwnerOrAdmin } from '@agora/service';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';
import { readInbox } from '../modules/notification/inbox.ts';
import { currentUser } from '../modules/user/current-user.ts';
import { displayName } from '../modules/user/user.entity.ts';

export const User: UserResolvers = {
  __resolveReference(reference, ctx) {
    requireOwnerOrAdmin(ctx.caller, reference.id, { log: ctx.log, action: 'users.user.read', resource: `user:${reference.id}` });
    return reference.id === ctx.caller?.sub ? currentUser(ctx) : ctx.userById.load(reference.id);
  },
  displayName: (user) => displayName(user),
  createdAt: (user) => user.createdAt.toISOString(),
  notifications: (user, args, ctx) => readInbox(ctx, user.id, args),
};
