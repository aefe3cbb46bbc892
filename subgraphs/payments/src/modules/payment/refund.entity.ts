import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** Money returned to the payer of a captured payment; payments are refunded in full, once. */
export const Refund = defineEntity({
  name: 'Refund',
  tableName: 'refunds',
  checks: [{ name: 'refunds_amount_check', expression: 'amount > 0' }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    paymentId: p.uuid().unique(),
    orderId: p.uuid().index(),
    /** Integer minor units of `currency`. */
    amount: p.integer(),
    currency: p.string().length(3),
    reason: p.string().length(500),
    providerRefundId: p.string().length(64),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type RefundEntity = InferEntity<typeof Refund>;
