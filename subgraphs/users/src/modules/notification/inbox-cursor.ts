import { badInput, isUuid } from '@agora/service';
import type { NotificationEntity } from './notification.entity.ts';
import type { InboxCursor } from './notification.repository.ts';

// Opaque to clients: base64url of "<createdAt ISO>|<id>".

export const encodeInboxCursor = (notification: NotificationEntity): string =>
  Buffer.from(`${notification.createdAt.toISOString()}|${notification.id}`, 'utf8').toString('base64url');

export function decodeInboxCursor(cursor: string): InboxCursor {
  const [time, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(time ?? '');
  if (rest.length > 0 || id === undefined || !isUuid(id) || Number.isNaN(createdAt.getTime())) throw badInput('after is not a cursor of this list', { after: cursor });
  return { createdAt, id };
}
