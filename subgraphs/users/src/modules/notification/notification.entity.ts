import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { NotificationRepository } from './notification.repository.ts';

export const NotificationKind = {
  ORDER_PLACED: 'ORDER_PLACED',
  ORDER_CONFIRMED: 'ORDER_CONFIRMED',
  ORDER_CANCELLED: 'ORDER_CANCELLED',
  ORDER_NEEDS_ATTENTION: 'ORDER_NEEDS_ATTENTION',
  PAYMENT_SUCCEEDED: 'PAYMENT_SUCCEEDED',
  PAYMENT_FAILED: 'PAYMENT_FAILED',
  PAYMENT_REFUNDED: 'PAYMENT_REFUNDED',
} as const;
export type NotificationKind = (typeof NotificationKind)[keyof typeof NotificationKind];

/** A message in a user's inbox, made from one order or payment event. */
export const Notification = defineEntity({
  name: 'Notification',
  tableName: 'notifications',
  repository: () => NotificationRepository,
  // The inbox is read newest first per user; the index serves the keyset pagination.
  indexes: [{ name: 'notifications_user_id_created_at_id_idx', properties: ['userId', 'createdAt', 'id'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    /** The recipient's `sub`; no foreign key, as events may name a user this service has not seen yet. */
    userId: p.string().length(255),
    kind: p.enum(() => NotificationKind),
    title: p.string().length(200),
    body: p.text(),
    orderId: p.uuid().nullable(),
    /** The event it was made from: at most one notification per event, even without processed_events. */
    eventId: p.uuid().unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
    readAt: p.datetime().nullable(),
  },
});

export type NotificationEntity = InferEntity<typeof Notification>;
