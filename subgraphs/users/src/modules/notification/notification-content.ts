import type { ReceivedEvent } from '@agora/events';
import { NotificationKind } from './notification.entity.ts';

/** The order and payment events that reach a user's inbox. */
export const NOTIFYING_EVENTS = {
  orders: ['agora.order.placed.v1', 'agora.order.confirmed.v1', 'agora.order.cancelled.v1', 'agora.order.needs-attention.v1'],
  payments: ['agora.payment.succeeded.v1', 'agora.payment.failed.v1', 'agora.payment.refunded.v1'],
} as const;

export type NotifyingEvent = ReceivedEvent<(typeof NOTIFYING_EVENTS)[keyof typeof NOTIFYING_EVENTS][number]>;

export interface NotificationContent {
  userId: string;
  kind: NotificationKind;
  title: string;
  body: string;
  orderId: string;
}

/** One formatter per currency, with its minor units: building an Intl.NumberFormat costs far more than using one. */
const formats = new Map<string, { format: Intl.NumberFormat; minorUnits: number }>();

/** €89.00 from { amount: 8900, currency: 'EUR' }, with the currency's own number of minor digits. */
export function formatMoney(money: { amount: number; currency: string }): string {
  try {
    let currency = formats.get(money.currency);
    if (!currency) {
      const format = new Intl.NumberFormat('en', { style: 'currency', currency: money.currency });
      currency = { format, minorUnits: 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2) };
      formats.set(money.currency, currency);
    }
    return currency.format.format(money.amount / currency.minorUnits);
  } catch {
    return `${money.amount} ${money.currency} (minor units)`;
  }
}

const orderRef = (orderId: string) => `order ${orderId.slice(0, 8)}`;

/** What the user reads about an event. Internal details (saga step, error text) stay out of it. */
export function notificationContent(event: NotifyingEvent): NotificationContent {
  const { userId, orderId } = event.data;
  const order = orderRef(orderId);
  const content = (kind: NotificationKind, title: string, body: string): NotificationContent => ({ userId, orderId, kind, title, body });
  switch (event.type) {
    case 'agora.order.placed.v1':
      return content(NotificationKind.ORDER_PLACED, 'Order received', `We received your ${order} (${formatMoney(event.data.total)}). We will let you know when it is confirmed.`);
    case 'agora.order.confirmed.v1':
      return content(NotificationKind.ORDER_CONFIRMED, 'Order confirmed', `Your ${order} (${formatMoney(event.data.total)}) is confirmed.`);
    case 'agora.order.cancelled.v1':
      return content(NotificationKind.ORDER_CANCELLED, 'Order cancelled', `Your ${order} was cancelled: ${event.data.reason}.`);
    case 'agora.order.needs-attention.v1':
      return content(NotificationKind.ORDER_NEEDS_ATTENTION, 'We are looking into your order', `Something went wrong while processing your ${order}. Our team has been alerted and will follow up.`);
    case 'agora.payment.succeeded.v1':
      return content(NotificationKind.PAYMENT_SUCCEEDED, 'Payment received', `We received your payment of ${formatMoney(event.data.amount)} for ${order}.`);
    case 'agora.payment.failed.v1':
      return content(NotificationKind.PAYMENT_FAILED, 'Payment failed', `Your payment of ${formatMoney(event.data.amount)} for ${order} did not go through: ${event.data.reason}.`);
    case 'agora.payment.refunded.v1':
      return content(NotificationKind.PAYMENT_REFUNDED, 'Refund issued', `We refunded ${formatMoney(event.data.amount)} for ${order}.`);
  }
}
