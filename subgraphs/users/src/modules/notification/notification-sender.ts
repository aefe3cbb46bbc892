import type { DeliveryChannel } from './notification-delivery.entity.ts';

/** What goes out to the user: by email today; SMS when users have phone numbers. */
export interface OutgoingMessage {
  notificationId: string;
  channel: DeliveryChannel;
  /** The full address; adapters must not log it unmasked. */
  to: string;
  subject: string;
  body: string;
}

/** The port to an email/SMS provider. Throws when the provider did not accept the message. */
export interface NotificationSender {
  send(message: OutgoingMessage): Promise<void>;
}

/** Addresses are masked in logs (a***e@agora.test) by the shared logger's rule. */
export { maskAddress } from '@agora/service';
