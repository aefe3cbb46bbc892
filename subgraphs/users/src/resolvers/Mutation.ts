import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import { markNotificationRead } from '../modules/notification/mark-notification-read.ts';
import { setPhoneNumber } from '../modules/user/set-phone-number.ts';

export const Mutation: MutationResolvers = {
  markNotificationRead: (_parent, { id }, ctx) => markNotificationRead(ctx, id),
  setPhoneNumber: (_parent, { phoneNumber }, ctx) => setPhoneNumber(ctx, phoneNumber),
};
