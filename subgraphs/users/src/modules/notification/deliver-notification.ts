import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '@agora/service';
import { User } from '../user/user.entity.ts';
import { DeliveryChannel, DeliveryStatus, NotificationDelivery, type NotificationDeliveryEntity } from './notification-delivery.entity.ts';
import { maskAddress, type NotificationSender } from './notification-sender.ts';
import type { NotificationEntity } from './notification.entity.ts';
import { recipientOf, type Recipient, type RecordedNotification } from './record-notification.ts';

// Sending is outside the transaction that stores a notification: a sender that fails or hangs
// never costs the user the notification. Each delivery row records what happened; a PENDING row
// left by a crash and a FAILED one are tried again by the retry loop, up to MAX_DELIVERY_ATTEMPTS.
//
// A notification just stored is sent from what its transaction wrote: its deliveries are claimed
// by moving their updated_at (the retry loop only takes rows untouched for its interval), sent,
// and each recorded, without a transaction or a lock held while the sender works. The retry loop
// claims with row locks. A sender must answer well within NOTIFICATION_RETRY_INTERVAL_MS, or the
// retry loop may take a delivery still being sent: delivery is at least once.

export const MAX_DELIVERY_ATTEMPTS = 3;

interface DeliveryFilter {
  /** The notification made from this event. */
  eventId?: string;
  status?: DeliveryStatus;
  updatedAt?: { $lt: Date };
}

export interface DeliveryDeps {
  em: EntityManager;
  sender: NotificationSender;
  logger: Logger;
}

/** One attempt: SENT, FAILED (with the error) or SKIPPED (no address), set on `delivery` for the caller to store. */
async function attempt(delivery: NotificationDeliveryEntity, notification: NotificationEntity, recipient: Recipient | null, { sender, logger }: DeliveryDeps): Promise<void> {
  const sms = delivery.channel === DeliveryChannel.SMS;
  const to = sms ? recipient?.phoneNumber : recipient?.email;
  if (!to) {
    delivery.status = DeliveryStatus.SKIPPED;
    delivery.lastError = sms ? 'no phone number on file' : 'no email address on file';
    return;
  }
  delivery.maskedAddress = maskAddress(to);
  delivery.attempts += 1;
  try {
    await sender.send({ notificationId: notification.id, channel: delivery.channel, to, subject: notification.title, body: notification.body });
    delivery.status = DeliveryStatus.SENT;
    delivery.sentAt = new Date();
    delivery.lastError = null;
  } catch (error) {
    delivery.status = DeliveryStatus.FAILED;
    delivery.lastError = (error instanceof Error ? error.message : String(error)).slice(0, 500);
    logger.warn({ notificationId: notification.id, deliveryId: delivery.id, attempts: delivery.attempts, error: delivery.lastError }, 'sending a notification failed; it stays in the inbox');
  }
}

/**
 * Claims unfinished deliveries matching `where` (skipping any another instance is working on),
 * with their notifications in the same query, and attempts each. Only the delivery rows are
 * locked: a notification stays readable, and can be marked read, while it is being sent.
 */
async function attemptMatching(deps: DeliveryDeps, { eventId, ...where }: DeliveryFilter, limit: number): Promise<number> {
  return deps.em.fork().transactional(async (tx) => {
    const deliveries = await tx
      .createQueryBuilder(NotificationDelivery, 'delivery')
      .select('*')
      .joinAndSelect('delivery.notification', 'notification')
      .where({ status: { $in: [DeliveryStatus.PENDING, DeliveryStatus.FAILED] }, attempts: { $lt: MAX_DELIVERY_ATTEMPTS }, ...where, ...(eventId === undefined ? {} : { notification: { eventId } }) })
      .orderBy({ createdAt: 'asc' })
      .limit(limit)
      .setLockMode(LockMode.PESSIMISTIC_PARTIAL_WRITE, ['delivery'])
      .getResultList();
    for (const delivery of deliveries) {
      const recipient = recipientOf(await tx.findOne(User, { id: delivery.notification.userId }, { fields: ['email', 'phoneNumber'] }));
      await attempt(delivery, delivery.notification, recipient, deps);
    }
    return deliveries.length;
  });
}

/**
 * Sends a notification right after the transaction that stored it committed (see above): one
 * statement claims its deliveries, one records each. Deliveries another instance's retry loop
 * took meanwhile are left to the locking path.
 */
export async function deliverRecorded({ notification, deliveries, recipient }: RecordedNotification, deps: DeliveryDeps): Promise<void> {
  const em = deps.em.fork();
  const ids = deliveries.map((delivery) => delivery.id);
  const claimed = await em.nativeUpdate(NotificationDelivery, { id: { $in: ids }, status: DeliveryStatus.PENDING }, { updatedAt: new Date() });
  if (claimed !== ids.length) {
    await deliverNotificationOf(notification.eventId, deps);
    return;
  }
  for (const delivery of deliveries) {
    await attempt(delivery, notification, recipient, deps);
    const { status, maskedAddress, attempts, lastError, sentAt } = delivery;
    await em.nativeUpdate(NotificationDelivery, { id: delivery.id }, { status, maskedAddress, attempts, lastError, sentAt, updatedAt: new Date() });
  }
}

/** Sends the pending deliveries of the notification made from `eventId` (right after it was stored). */
export async function deliverNotificationOf(eventId: string, deps: DeliveryDeps): Promise<void> {
  await attemptMatching(deps, { eventId, status: DeliveryStatus.PENDING }, 10);
}

/** Tries again deliveries that failed, or stayed pending, for at least `olderThanMs`. */
export function retryDeliveries(deps: DeliveryDeps, options: { olderThanMs: number; limit?: number }): Promise<number> {
  return attemptMatching(deps, { updatedAt: { $lt: new Date(Date.now() - options.olderThanMs) } }, options.limit ?? 50);
}

/** Runs retryDeliveries every `intervalMs` until stopped. */
export function startDeliveryRetries(deps: DeliveryDeps, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => retryDeliveries(deps, { olderThanMs: intervalMs })).catch((error: unknown) => deps.logger.error({ err: error }, 'retrying notification deliveries failed'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
