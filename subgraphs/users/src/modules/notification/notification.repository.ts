import { EntityRepository } from '@mikro-orm/postgresql';
import type { NotificationEntity } from './notification.entity.ts';

/** A position in an inbox: the last notification of the previous page. */
export interface InboxCursor {
  createdAt: Date;
  id: string;
}

export interface InboxPage {
  nodes: NotificationEntity[];
  totalCount: number;
  unreadCount: number;
  hasNextPage: boolean;
}

export class NotificationRepository extends EntityRepository<NotificationEntity> {
  /** A user's notifications, newest first, after `after` (keyset pagination on createdAt, id). */
  async findInboxPage(userId: string, options: { first: number; after: InboxCursor | undefined }): Promise<InboxPage> {
    const { after } = options;
    const older = after ? { $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }] } : {};
    const [rows, totalCount, unreadCount] = await Promise.all([
      this.find({ userId, ...older }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: options.first + 1 }),
      this.count({ userId }),
      this.count({ userId, readAt: null }),
    ]);
    return { nodes: rows.slice(0, options.first), totalCount, unreadCount, hasNextPage: rows.length > options.first };
  }

  /** The notification if it is `userId`'s; null for an unknown id and for anyone else's alike. */
  findOwned(id: string, userId: string): Promise<NotificationEntity | null> {
    return this.findOne({ id, userId });
  }
}
