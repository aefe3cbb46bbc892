import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

// The simulated provider's own records, in its own table (as a real provider keeps them on its
// side): one row per charge idempotency key, so the same key never charges twice.

export const SimulatedChargeStatus = {
  /** Being processed: nothing decided yet (a flaky or timing-out card, a call in progress). */
  PROCESSING: 'processing',
  REQUIRES_CONFIRMATION: 'requires_confirmation',
  SUCCEEDED: 'succeeded',
  DECLINED: 'declined',
  /** The confirmation failed (the customer failed the challenge). */
  FAILED: 'failed',
  CANCELED: 'canceled',
  REFUNDED: 'refunded',
} as const;
export type SimulatedChargeStatus = (typeof SimulatedChargeStatus)[keyof typeof SimulatedChargeStatus];

export const SimulatedCharge = defineEntity({
  name: 'SimulatedCharge',
  tableName: 'simulated_provider_charges',
  properties: {
    idempotencyKey: p.string().length(200).primary(),
    /** The provider's payment id, sim_pi_…. */
    id: p.string().length(64).unique(),
    /** The caller's reference (payments sends the order id). */
    reference: p.string().length(200).index(),
    /** Null on a cancel that arrived before its charge: the key is then spent. */
    amount: p.integer().nullable(),
    currency: p.string().length(3).nullable(),
    method: p.string().length(64).nullable(),
    status: p.enum(() => SimulatedChargeStatus),
    reason: p.string().length(200).nullable(),
    /** Charge calls seen with this key. */
    attempts: p.integer(),
    /** When a charge waiting for confirmation is confirmed automatically; null: only on request. */
    confirmAt: p.datetime().nullable(),
    refundId: p.string().length(64).nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export type SimulatedChargeEntity = InferEntity<typeof SimulatedCharge>;
