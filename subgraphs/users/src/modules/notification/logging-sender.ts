import type { Logger } from '@agora/service';
import { maskAddress, type NotificationSender, type OutgoingMessage } from './notification-sender.ts';

/** The simulated provider: "sends" by logging the message with a masked address. */
export class LoggingSender implements NotificationSender {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger.child({ component: 'notification-sender' });
  }

  async send(message: OutgoingMessage): Promise<void> {
    this.#logger.info({ notificationId: message.notificationId, channel: message.channel, to: maskAddress(message.to), subject: message.subject }, 'notification sent (simulated)');
  }
}
