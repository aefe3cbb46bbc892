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
// Whoever sends a delivery first claims it by moving its updated_at: the retry loop only takes
// rows untouched for its interval, so a claim is a lease for that long. A notification just
// stored is claimed with one statement from what its transaction wrote; the retry loop claims
// under row locks (skipping rows another claim holds) in a short transaction of its own. No
// transaction, lock or pooled connection is held while the sender works, and each attempt is
// recorded as it ends. A sender must answer well within NOTIFICATION_RETRY_INTERVAL_MS, or a
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

/** A claimed delivery with what sending it needs. */
interface Claimed {
  delivery: NotificationDeliveryEntity;
  notification: NotificationEntity;
  recipient: Recipient | null;
}

/** Attempts each claimed delivery in turn and records how it ended. */
async function sendClaimed(em: EntityManager, claimed: readonly Claimed[], deps: DeliveryDeps): Promise<void> {
  for (const { delivery, notification, recipient } of claimed) {
    await attempt(delivery, notification, recipient, deps);
    const { status, maskedAddress, attempts, lastError, sentAt } = delivery;
    await em.nativeUpdate(NotificationDelivery, { id: delivery.id }, { status, maskedAddress, attempts, lastError, sentAt, updatedAt: new Date() });
  }
}

/**
 * Claims up to `limit` unfinished deliveries matching `where`, with their notifications and
 * recipients, and sends them. Rows another claim has locked are skipped; only the delivery rows
 * are locked, and only while they are claimed, so a notification stays readable (and can be
 * marked read) throughout.
 */
async function claimAndSend(deps: DeliveryDeps, { eventId, ...where }: DeliveryFilter, limit: number): Promise<number> {
  const em = deps.em.fork();
  const claimed = await em.transactional(async (tx) => {
    const deliveries = await tx
      .createQueryBuilder(NotificationDelivery, 'delivery')
      .select('*')
      .joinAndSelect('delivery.notification', 'notification')
      .where({ status: { $in: [DeliveryStatus.PENDING, DeliveryStatus.FAILED] }, attempts: { $lt: MAX_DELIVERY_ATTEMPTS }, ...where, ...(eventId === undefined ? {} : { notification: { eventId } }) })
      .orderBy({ createdAt: 'asc' })
      .limit(limit)
      .setLockMode(LockMode.PESSIMISTIC_PARTIAL_WRITE, ['delivery'])
      .getResultList();
    if (deliveries.length === 0) return [];
    await tx.nativeUpdate(NotificationDelivery, { id: { $in: deliveries.map((delivery) => delivery.id) } }, { updatedAt: new Date() });
    const userIds = [...new Set(deliveries.map((delivery) => delivery.notification.userId))];
    const users = new Map((await tx.find(User, { id: { $in: userIds } }, { fields: ['email', 'phoneNumber'] })).map((user) => [user.id, recipientOf(user)]));
    return deliveries.map((delivery) => ({ delivery, notification: delivery.notification, recipient: users.get(delivery.notification.userId) ?? null }));
  });
  await sendClaimed(em, claimed, deps);
  return claimed.length;
}

/**
 * Sends a notification right after the transaction that stored it committed (see above): one
 * statement claims its deliveries, one records each. Deliveries a retry loop took meanwhile are
 * left to it; the rest are claimed as the retry loop claims.
 */
export async function deliverRecorded({ notification, deliveries, recipient }: RecordedNotification, deps: DeliveryDeps): Promise<void> {
  const em = deps.em.fork();
  const ids = deliveries.map((delivery) => delivery.id);
  const claimed = await em.nativeUpdate(NotificationDelivery, { id: { $in: ids }, status: DeliveryStatus.PENDING }, { updatedAt: new Date() });
  if (claimed !== ids.length) {
    await deliverNotificationOf(notification.eventId, deps);
    return;
  }
  await sendClaimed(
    em,
    deliveries.map((delivery) => ({ delivery, notification, recipient })),
    deps,
  );
}

/** Sends the pending deliveries of the notification made from `eventId` (right after it was stored). */
export async function deliverNotificationOf(eventId: string, deps: DeliveryDeps): Promise<void> {
  await claimAndSend(deps, { eventId, status: DeliveryStatus.PENDING }, 10);
}

/** Tries again deliveries that failed, or stayed pending, for at least `olderThanMs`. */
export function retryDeliveries(deps: DeliveryDeps, options: { olderThanMs: number; limit?: number }): Promise<number> {
  return claimAndSend(deps, { updatedAt: { $lt: new Date(Date.now() - options.olderThanMs) } }, options.limit ?? 50);
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
