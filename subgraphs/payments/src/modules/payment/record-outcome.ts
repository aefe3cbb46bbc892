import { LockMode, type EntityManager } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { enqueueEvent, type EventData } from '@agora/events';
import { audit, type Logger } from '@agora/service';
import { providerKeys, type PaymentProvider } from '../provider/payment-provider.ts';
import { Payment, PaymentStatus, type PaymentEntity } from './payment.entity.ts';
import { ProviderWebhookEvent } from './provider-webhook-event.entity.ts';
import { Refund } from './refund.entity.ts';

// Every change of a payment's status goes through here: under a row lock, in one transaction
// with its outbox event, so concurrent callers (a charge replay, the webhook, a cancel) each see
// the other's result and an event is written once.

export interface PaymentDeps {
  orm: MikroORM;
  provider: PaymentProvider;
  logger: Logger;
}

/** What the provider said about a payment, from a call's answer or a webhook. */
export type Observation =
  | { kind: 'succeeded'; providerPaymentId: string }
  | { kind: 'requires_confirmation'; providerPaymentId: string }
  | { kind: 'declined'; providerPaymentId: string; reason: string }
  /** The asynchronous confirmation failed. */
  | { kind: 'failed'; providerPaymentId: string; reason: string }
  | { kind: 'canceled'; reason: string }
  | { kind: 'refunded'; providerRefundId: string; reason: string };

const OPEN: readonly PaymentStatus[] = [PaymentStatus.PENDING, PaymentStatus.AUTHORIZED, PaymentStatus.PENDING_CONFIRMATION];

type Transition = 'applied' | 'unchanged' | 'refund_needed';

/** Applies an observation to a locked payment, with its event; a capture that came after a cancel needs a refund first. */
function transition(em: EntityManager, payment: PaymentEntity, seen: Observation): Transition {
  const open = OPEN.includes(payment.status);
  const awaitedConfirmation = payment.status === PaymentStatus.PENDING_CONFIRMATION;
  switch (seen.kind) {
    case 'succeeded':
      if (payment.status === PaymentStatus.CANCELED) return 'refund_needed';
      if (!open) return 'unchanged';
      payment.status = PaymentStatus.CAPTURED;
      payment.providerPaymentId = seen.providerPaymentId;
      payment.statusReason = null;
      enqueuePaymentEvent(em, 'agora.payment.succeeded.v1', { ...paymentData(payment), awaitedConfirmation });
      return 'applied';
    case 'requires_confirmation':
      if (payment.status !== PaymentStatus.PENDING && payment.status !== PaymentStatus.AUTHORIZED) return 'unchanged';
      payment.status = PaymentStatus.PENDING_CONFIRMATION;
      payment.providerPaymentId = seen.providerPaymentId;
      return 'applied';
    case 'declined':
    case 'failed':
      if (!open) return 'unchanged';
      payment.status = seen.kind === 'declined' ? PaymentStatus.DECLINED : PaymentStatus.FAILED;
      payment.providerPaymentId = seen.providerPaymentId;
      payment.statusReason = seen.reason;
      enqueuePaymentEvent(em, 'agora.payment.failed.v1', { ...paymentData(payment), reason: seen.reason, awaitedConfirmation });
      return 'applied';
    case 'canceled':
      if (!open) return 'unchanged';
      payment.status = PaymentStatus.CANCELED;
      payment.statusReason = seen.reason;
      return 'applied';
    case 'refunded':
      if (payment.status !== PaymentStatus.CAPTURED && payment.status !== PaymentStatus.CANCELED && !open) return 'unchanged';
      payment.status = PaymentStatus.REFUNDED;
      payment.statusReason = seen.reason;
      em.create(Refund, {
        paymentId: payment.id,
        orderId: payment.orderId,
        amount: payment.amount,
        currency: payment.currency,
        reason: seen.reason,
        providerRefundId: seen.providerRefundId,
      });
      enqueuePaymentEvent(em, 'agora.payment.refunded.v1', paymentData(payment));
      return 'applied';
  }
}

type PaymentEventType = 'agora.payment.succeeded.v1' | 'agora.payment.failed.v1' | 'agora.payment.refunded.v1';

/** Adds one of a payment's events to the outbox in `em`'s transaction; its subject is the payment. */
const enqueuePaymentEvent = <T extends PaymentEventType>(em: EntityManager, type: T, data: EventData<T>) => enqueueEvent(em, { type, service: 'payments', subject: data.paymentId, data });

/** What every payment event says of its payment. */
const paymentData = (payment: PaymentEntity) => ({ paymentId: payment.id, orderId: payment.orderId, userId: payment.customerId, amount: { amount: payment.amount, currency: payment.currency } });

export type RecordResult =
  | { kind: 'recorded'; payment: PaymentEntity; changed: boolean }
  /** The webhook event was applied before. */
  | { kind: 'duplicate' }
  /** No such payment (or, for a webhook, none with that provider payment id). */
  | { kind: 'missing' };

export interface RecordOptions {
  /** A webhook's event id: recorded with the change, and a second delivery is a no-op. */
  webhookEvent?: { id: string; type: string; providerPaymentId: string };
}

/**
 * Records what the provider said about the payment of `orderId`. Money captured after the
 * payment was cancelled (a confirmation racing the saga's cancel) is refunded first, so it is
 * never left captured; a refund the provider cannot make now throws ProviderUnavailableError
 * and nothing is recorded (a webhook is then redelivered).
 */
export async function recordOutcome(deps: PaymentDeps, orderId: string, observation: Observation, options: RecordOptions = {}): Promise<RecordResult> {
  let seen = observation;
  for (;;) {
    const step = await deps.orm.em.fork().transactional(async (em): Promise<RecordResult | { kind: 'refund'; payment: PaymentEntity }> => {
      const payment = await em.findOne(Payment, { orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const hook = options.webhookEvent;
      // A webhook about another charge than the one we know is not about this payment.
      if (!payment || (hook && payment.providerPaymentId !== null && payment.providerPaymentId !== hook.providerPaymentId)) return { kind: 'missing' };
      // Checked under the payment's lock, so two deliveries of one event cannot both pass.
      if (hook && (await em.findOne(ProviderWebhookEvent, { id: hook.id }))) return { kind: 'duplicate' };
      const outcome = transition(em, payment, seen);
      if (outcome === 'refund_needed') return { kind: 'refund', payment };
      if (hook) em.create(ProviderWebhookEvent, hook);
      return { kind: 'recorded', payment, changed: outcome === 'applied' };
    });
    if (step.kind !== 'refund') return step;
    const { payment } = step;
    if (seen.kind !== 'succeeded') throw new Error('only a capture needs a refund');
    deps.logger.warn({ orderId, providerPaymentId: seen.providerPaymentId }, 'payment captured after it was cancelled; refunding it');
    const refund = await deps.provider.refund({
      idempotencyKey: providerKeys.refund(orderId),
      providerPaymentId: seen.providerPaymentId,
      amount: { amount: payment.amount, currency: payment.currency },
    });
    seen = { kind: 'refunded', providerRefundId: refund.providerRefundId, reason: `captured after it was cancelled (${payment.statusReason ?? 'no reason given'})` };
    audit(deps.logger, { action: 'payments.refund', outcome: 'succeeded', resource: `payment:${payment.id}`, orderId, amount: { amount: payment.amount, currency: payment.currency }, reason: seen.reason });
  }
}
