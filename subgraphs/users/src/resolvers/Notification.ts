import type { NotificationResolvers } from '../__generated__/resolvers-types.ts';

export const Notification: NotificationResolvers = {
  createdAt: (notification) => notification.createdAt.toISOString(),
  readAt: (notification) => notification.readAt?.toISOString() ?? null,
};
