import { badInput, forbidden, requireCaller } from '@agora/service';
import type { Context } from '../../context.ts';
import { decodeInboxCursor, encodeInboxCursor } from './inbox-cursor.ts';
import type { NotificationEntity } from './notification.entity.ts';

const MAX_PAGE = 100;

export interface InboxConnection {
  nodes: NotificationEntity[];
  totalCount: number;
  unreadCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

/** A page of `userId`'s inbox, for that user only: notifications are private even to admins. */
export async function readInbox(ctx: Context, userId: string, args: { first: number; after?: string | null | undefined }): Promise<InboxConnection> {
  const caller = requireCaller(ctx.caller);
  if (caller.sub !== userId) throw forbidden('Only the user can read their notifications');
  // An explicit `first: null` arrives as null despite the schema default.
  if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_PAGE) throw badInput(`first must be from 1 to ${MAX_PAGE}`, { first: args.first });
  const page = await ctx.notifications.findInboxPage(userId, { first: args.first, after: args.after ? decodeInboxCursor(args.after) : undefined });
  const last = page.nodes.at(-1);
  return { ...page, endCursor: last ? encodeInboxCursor(last) : null };
}
