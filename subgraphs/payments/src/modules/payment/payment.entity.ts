import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { PaymentRepository } from './payment.repository.ts';

// PENDING: recorded, the provider has not answered yet (or failed transiently): charging again is safe.
// PENDING_CONFIRMATION: the provider waits for the customer (3-D Secure); its webhook settles it.
// CAPTURED, DECLINED, FAILED (confirmation failed): the provider's answer. CANCELED, REFUNDED: compensated.
// AUTHORIZED is kept for older rows; charges capture at once.
export const PaymentStatus = {
  PENDING: 'PENDING',
  PENDING_CONFIRMATION: 'PENDING_CONFIRMATION',
  AUTHORIZED: 'AUTHORIZED',
  CAPTURED: 'CAPTURED',
  DECLINED: 'DECLINED',
  REFUNDED: 'REFUNDED',
  FAILED: 'FAILED',
  CANCELED: 'CANCELED',
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
    /** The provider's id of the charge, once it answered. */
    providerPaymentId: p.string().length(64).nullable().unique(),
    /** Why the payment is in its status: the decline or failure reason, the cancel or refund reason. */
    statusReason: p.string().length(500).nullable(),
    version: p.integer().version(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type PaymentEntity = InferEntity<typeof Payment>;
