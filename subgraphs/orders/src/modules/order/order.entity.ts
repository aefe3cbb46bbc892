import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { OrderLine } from './order-line.entity.ts';
import { OrderRepository } from './order.repository.ts';

export const OrderStatus = {
  PENDING: 'PENDING',
  CONFIRMED: 'CONFIRMED',
  CANCELLED: 'CANCELLED',
  NEEDS_ATTENTION: 'NEEDS_ATTENTION',
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

export const Order = defineEntity({
  name: 'Order',
  tableName: 'orders',
  repository: () => OrderRepository,
  checks: [{ name: 'orders_total_check', expression: 'total_amount >= 0' }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    /** The customer's identity-provider `sub` (owned by the users service). */
    customerId: p.string().length(255).index(),
    status: p.enum(() => OrderStatus),
    /** Integer minor units of `currency`: the sum of the lines. */
    totalAmount: p.integer(),
    currency: p.string().length(3),
    /** The test payment method chosen at checkout (pm_card_visa, ...). */
    paymentMethod: p.string().length(100).nullable(),
    /** Why the order was cancelled or needs attention. */
    statusReason: p.text().nullable(),
    lines: () => p.oneToMany(OrderLine).mappedBy('order').orphanRemoval(),
    version: p.integer().version(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type OrderEntity = InferEntity<typeof Order>;
