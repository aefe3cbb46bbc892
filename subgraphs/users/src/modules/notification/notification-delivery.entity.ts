import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Notification } from './notification.entity.ts';

export const DeliveryChannel = {
  EMAIL: 'EMAIL',
  SMS: 'SMS',
} as const;
export type DeliveryChannel = (typeof DeliveryChannel)[keyof typeof DeliveryChannel];

export const DeliveryStatus = {
  /** Stored with the notification; the sender has not been called yet (or the process stopped before it answered). */
  PENDING: 'PENDING',
  SENT: 'SENT',
  /** The sender failed; retried a few times, the notification itself stays in the inbox. */
  FAILED: 'FAILED',
  /** Nothing to send to: the user has no address on file. */
  SKIPPED: 'SKIPPED',
} as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** One attempt history of sending a notification out (email, SMS) through the NotificationSender. */
export const NotificationDelivery = defineEntity({
  name: 'NotificationDelivery',
  tableName: 'notification_deliveries',
  indexes: [
    {
      name: 'notification_deliveries_unfinished_idx',
      expression: `create index "notification_deliveries_unfinished_idx" on "notification_deliveries" ("updated_at") where "status" in ('PENDING', 'FAILED')`,
    },
  ],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    notification: () => p.manyToOne(Notification).index(),
    channel: p.enum(() => DeliveryChannel),
    /** Masked (a***e@example.com): enough to tell addresses apart, not to reuse one. */
    maskedAddress: p.string().length(320).nullable(),
    status: p.enum(() => DeliveryStatus),
    attempts: p.integer().default(0),
    lastError: p.string().length(500).nullable(),
    sentAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type NotificationDeliveryEntity = InferEntity<typeof NotificationDelivery>;
