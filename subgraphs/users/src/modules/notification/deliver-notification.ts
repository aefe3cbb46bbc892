import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '@agora/service';
import { User } from '../user/user.entity.ts';
import { DeliveryChannel, DeliveryStatus, NotificationDelivery, type NotificationDeliveryEntity } from './notification-delivery.entity.ts';
import { maskAddress, type NotificationSender } from './notification-sender.ts';

// Sending is outside the transaction that stores a notification: a sender that fails or hangs
// never costs the user the notification. Each delivery row records what happened; a PENDING row
// left by a crash and a FAILED one are tried again by the retry loop, up to MAX_DELIVERY_ATTEMPTS.

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

/**
 * One attempt: SENT, FAILED (with the error) or SKIPPED (no address); changes are flushed by the
 * caller's transaction. The delivery comes with its notification loaded.
 */
async function attempt(tx: EntityManager, delivery: NotificationDeliveryEntity, { sender, logger }: DeliveryDeps): Promise<void> {
  const notification = delivery.notification;
  const user = await tx.findOne(User, { id: notification.userId });
  const sms = delivery.channel === DeliveryChannel.SMS;
  const to = sms ? user?.phoneNumber : user?.email;
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
    for (const delivery of deliveries) await attempt(tx, delivery, deps);
    return deliveries.length;
  });
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
