import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import { markNotificationRead } from '../modules/notification/mark-notification-read.ts';

export const Mutation: MutationResolvers = {
  markNotificationRead: (_parent, { id }, ctx) => markNotificationRead(ctx, id),
};
