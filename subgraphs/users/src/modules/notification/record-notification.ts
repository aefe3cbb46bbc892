import type { EntityManager } from '@mikro-orm/postgresql';
import { DeliveryChannel, DeliveryStatus, NotificationDelivery } from './notification-delivery.entity.ts';
import { notificationContent, type NotifyingEvent } from './notification-content.ts';
import { Notification, type NotificationEntity } from './notification.entity.ts';

/**
 * Puts the event's notification in the user's inbox, with its email delivery pending, in `em`'s
 * transaction (the one that marks the event processed). Sending happens after the commit.
 */
export function recordNotification(em: EntityManager, event: NotifyingEvent): NotificationEntity {
  const content = notificationContent(event);
  const notification = em.create(Notification, { ...content, eventId: event.id, readAt: null });
  em.create(NotificationDelivery, { notification, channel: DeliveryChannel.EMAIL, status: DeliveryStatus.PENDING, maskedAddress: null, lastError: null, sentAt: null });
  return notification;
}
