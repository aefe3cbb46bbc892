import type { EntityManager } from '@mikro-orm/postgresql';
import { User } from '../user/user.entity.ts';
import { DeliveryChannel, DeliveryStatus, NotificationDelivery } from './notification-delivery.entity.ts';
import { notificationContent, type NotifyingEvent } from './notification-content.ts';
import { Notification, NotificationKind, type NotificationEntity } from './notification.entity.ts';

/** Kinds also sent by SMS to users with a phone number: how an order ended (the rest is email only). */
export const SMS_KINDS: ReadonlySet<NotificationKind> = new Set([NotificationKind.ORDER_CONFIRMED, NotificationKind.ORDER_CANCELLED, NotificationKind.ORDER_NEEDS_ATTENTION]);

/**
 * Puts the event's notification in the user's inbox, with its deliveries pending (email; SMS too
 * for SMS_KINDS when the user has a phone number), in `em`'s transaction (the one that marks the
 * event processed). Sending happens after the commit.
 */
export async function recordNotification(em: EntityManager, event: NotifyingEvent): Promise<NotificationEntity> {
  const content = notificationContent(event);
  const notification = em.create(Notification, { ...content, eventId: event.id, readAt: null });
  const pending = { notification, status: DeliveryStatus.PENDING, maskedAddress: null, lastError: null, sentAt: null };
  em.create(NotificationDelivery, { ...pending, channel: DeliveryChannel.EMAIL });
  if (SMS_KINDS.has(content.kind) && (await em.findOne(User, { id: content.userId }, { fields: ['phoneNumber'] }))?.phoneNumber) {
    em.create(NotificationDelivery, { ...pending, channel: DeliveryChannel.SMS });
  }
  return notification;
}
