import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { PaymentRepository } from './payment.repository.ts';

export const PaymentStatus = {
  PENDING: 'PENDING',
  AUTHORIZED: 'AUTHORIZED',
  CAPTURED: 'CAPTURED',
  DECLINED: 'DECLINED',
  REFUNDED: 'REFUNDED',
  FAILED: 'FAILED',
} as const;
export type PaymentStatus = (typeof PaymentStatus)[keyof typeof PaymentStatus];

export const Payment = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  repository: () => PaymentRepository,
  checks: [{ name: 'payments_amount_check', expression: 'amount >= 0' }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    /** One payment per order (owned by the orders service). */
    orderId: p.uuid().unique(),
    /** The payer's identity-provider `sub`. */
    customerId: p.string().length(255).index(),
    status: p.enum(() => PaymentStatus),
    /** Integer minor units of `currency`. */
    amount: p.integer(),
    currency: p.string().length(3),
    method: p.string().length(64),
    version: p.integer().version(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type PaymentEntity = InferEntity<typeof Payment>;
