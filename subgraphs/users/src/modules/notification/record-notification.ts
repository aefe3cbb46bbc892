import type { EntityManager } from '@mikro-orm/postgresql';
import { User } from '../user/user.entity.ts';
import { DeliveryChannel, DeliveryStatus, NotificationDelivery, type NotificationDeliveryEntity } from './notification-delivery.entity.ts';
import { notificationContent, type NotifyingEvent } from './notification-content.ts';
import { Notification, NotificationKind, type NotificationEntity } from './notification.entity.ts';

/** Kinds also sent by SMS to users with a phone number: how an order ended (the rest is email only). */
export const SMS_KINDS: ReadonlySet<NotificationKind> = new Set([NotificationKind.ORDER_CONFIRMED, NotificationKind.ORDER_CANCELLED, NotificationKind.ORDER_NEEDS_ATTENTION]);

/** Where a user's notifications go; null fields have nothing to send to. */
export interface Recipient {
  email: string | null;
  phoneNumber: string | null;
}

/** A user's addresses as a Recipient (null for a user this service has never seen). */
export const recipientOf = (user: { email: string; phoneNumber?: string | null | undefined } | null): Recipient | null => (user ? { email: user.email, phoneNumber: user.phoneNumber ?? null } : null);

/** A stored notification with its pending deliveries and its recipient as they were in that transaction. */
export interface RecordedNotification {
  notification: NotificationEntity;
  deliveries: NotificationDeliveryEntity[];
  /** Null for a user this service has never seen. */
  recipient: Recipient | null;
}

/**
 * Puts the event's notification in the user's inbox, with its deliveries pending (email; SMS too
 * for SMS_KINDS when the user has a phone number), in `em`'s transaction (the one that marks the
 * event processed). Sending happens after the commit.
 */
export async function recordNotification(em: EntityManager, event: NotifyingEvent): Promise<RecordedNotification> {
  const content = notificationContent(event);
  const recipient = recipientOf(await em.findOne(User, { id: content.userId }, { fields: ['email', 'phoneNumber'] }));
  const notification = em.create(Notification, { ...content, eventId: event.id, readAt: null });
  const pending = { notification, status: DeliveryStatus.PENDING, maskedAddress: null, lastError: null, sentAt: null };
  const deliveries = [em.create(NotificationDelivery, { ...pending, channel: DeliveryChannel.EMAIL })];
  if (SMS_KINDS.has(content.kind) && recipient?.phoneNumber) deliveries.push(em.create(NotificationDelivery, { ...pending, channel: DeliveryChannel.SMS }));
  return { notification, deliveries, recipient };
}
