import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Product } from '../product/product.entity.ts';
import { ReservationRepository } from './reservation.repository.ts';

export const ReservationStatus = {
  /** Units held for the order until `expiresAt`. */
  RESERVED: 'RESERVED',
  /** Units taken off the shelf: on hand and reserved both went down. */
  COMMITTED: 'COMMITTED',
  /** Units given back (compensation or expiry). */
  RELEASED: 'RELEASED',
  /** Refused for lack of stock; kept so a replay gets the same answer. */
  REJECTED: 'REJECTED',
} as const;
export type ReservationStatus = (typeof ReservationStatus)[keyof typeof ReservationStatus];

/** One order line's hold on a product's stock; (orderId, product) is the idempotency key of every command. */
export const Reservation = defineEntity({
  name: 'Reservation',
  tableName: 'reservations',
  repository: () => ReservationRepository,
  uniques: [{ name: 'reservations_order_id_product_id_unique', properties: ['orderId', 'product'] }],
  indexes: [
    {
      name: 'reservations_expiry_idx',
      expression: `create index "reservations_expiry_idx" on "reservations" ("expires_at") where "status" = 'RESERVED'`,
    },
  ],
  checks: [{ name: 'reservations_quantity_check', expression: 'quantity > 0' }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    /** An order of the orders service. */
    orderId: p.uuid(),
    product: () => p.manyToOne(Product).index(),
    quantity: p.integer(),
    status: p.enum(() => ReservationStatus),
    expiresAt: p.datetime(),
    /** Units that were available when the reservation was refused (REJECTED only). */
    availableWhenRejected: p.integer().nullable(),
    /** Why it was released: the saga's reason, or `expired`. */
    releaseReason: p.string().length(200).nullable(),
    committedAt: p.datetime().nullable(),
    releasedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type ReservationEntity = InferEntity<typeof Reservation>;
