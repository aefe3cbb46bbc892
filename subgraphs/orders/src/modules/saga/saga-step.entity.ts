import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const SagaStepStatus = {
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  /** The participant refused (out of stock, declined): not retried, the saga compensates. */
  REJECTED: 'REJECTED',
  /** A technical failure; the saga may retry it. */
  FAILED: 'FAILED',
  SKIPPED: 'SKIPPED',
} as const;
export type SagaStepStatus = (typeof SagaStepStatus)[keyof typeof SagaStepStatus];

/**
 * The saga's read model: one row per step of an order's saga (a line's reservation is its own
 * step), written by the activities as they run. The workflow's history is the truth; this is what
 * customers and admins see.
 */
export const SagaStep = defineEntity({
  name: 'SagaStep',
  tableName: 'saga_steps',
  properties: {
    orderId: p.uuid().primary(),
    name: p.string().length(100).primary(),
    /** Forward steps come first; compensation steps have compensation=true. */
    compensation: p.boolean().default(false),
    status: p.enum(() => SagaStepStatus),
    attempts: p.integer().default(0),
    startedAt: p.datetime(),
    endedAt: p.datetime().nullable(),
    error: p.text().nullable(),
  },
});

export type SagaStepEntity = InferEntity<typeof SagaStep>;
