import { defineSubscription, type EventSubscription } from '@agora/events';
import { deliverNotificationOf, type DeliveryDeps } from '../modules/notification/deliver-notification.ts';
import { NOTIFYING_EVENTS } from '../modules/notification/notification-content.ts';
import { recordNotification } from '../modules/notification/record-notification.ts';

/** The consumer name in processed_events. */
export const NOTIFICATIONS_CONSUMER = 'users.notifications';

/** Order and payment events become inbox notifications; each is sent by email (and some by SMS) once stored. */
export function notificationSubscriptions(deps: DeliveryDeps): EventSubscription[] {
  const afterCommit = ({ id }: { id: string }) => deliverNotificationOf(id, deps);
  return [
    defineSubscription({
      types: NOTIFYING_EVENTS.orders,
      topic: 'orders',
      route: '/events/orders',
      handle: async (event, em) => {
        await recordNotification(em, event);
      },
      afterCommit,
    }),
    defineSubscription({
      types: NOTIFYING_EVENTS.payments,
      topic: 'payments',
      route: '/events/payments',
      handle: async (event, em) => {
        await recordNotification(em, event);
      },
      afterCommit,
    }),
  ];
}
