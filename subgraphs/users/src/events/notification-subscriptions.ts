import { defineSubscription, type EventSubscription } from '@agora/events';
import { deliverNotificationOf, deliverRecorded, type DeliveryDeps } from '../modules/notification/deliver-notification.ts';
import { NOTIFYING_EVENTS, type NotifyingEvent } from '../modules/notification/notification-content.ts';
import { recordNotification, type RecordedNotification } from '../modules/notification/record-notification.ts';

/** The consumer name in processed_events. */
export const NOTIFICATIONS_CONSUMER = 'users.notifications';

/** Order and payment events become inbox notifications; each is sent by email (and some by SMS) once stored. */
export function notificationSubscriptions(deps: DeliveryDeps): EventSubscription[] {
  // What each event's transaction stored, for the send after its commit (the same event object reaches both).
  const recorded = new WeakMap<NotifyingEvent, RecordedNotification>();
  const handle = async (event: NotifyingEvent, em: Parameters<typeof recordNotification>[0]) => {
    recorded.set(event, await recordNotification(em, event));
  };
  const afterCommit = async (event: NotifyingEvent) => {
    const stored = recorded.get(event);
    recorded.delete(event);
    await (stored ? deliverRecorded(stored, deps) : deliverNotificationOf(event.id, deps));
  };
  return [
    defineSubscription({ types: NOTIFYING_EVENTS.orders, topic: 'orders', route: '/events/orders', handle, afterCommit }),
    defineSubscription({ types: NOTIFYING_EVENTS.payments, topic: 'payments', route: '/events/payments', handle, afterCommit }),
  ];
}
