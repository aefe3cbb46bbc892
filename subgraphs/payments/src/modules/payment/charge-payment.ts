import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { DomainError, ErrorCode } from '@agora/service';
import { providerKeys, type ChargeResult, type Money } from '../provider/payment-provider.ts';
import { Payment, PaymentStatus, type PaymentEntity } from './payment.entity.ts';
import { recordOutcome, type Observation, type PaymentDeps } from './record-outcome.ts';

export interface ChargeInput {
  orderId: string;
  userId: string;
  amount: Money;
  paymentMethod: string;
}

export interface ChargeOutcome {
  paymentId: string;
  status: 'CAPTURED' | 'PENDING_CONFIRMATION';
}

/**
 * Charges an order once: the payment row (one per order) is recorded before the provider is
 * called with a key derived from the order id, so a replay, concurrent or after a crash, either
 * returns the first outcome or repeats the same provider call, which the provider answers from
 * its own record. A decline is PAYMENT_DECLINED; a provider that cannot answer now throws
 * ProviderUnavailableError and leaves the payment PENDING, to be charged by the next replay.
 */
export async function chargePayment(deps: PaymentDeps, input: ChargeInput): Promise<ChargeOutcome> {
  let payment = await openPayment(deps, input);
  if (payment.status === PaymentStatus.PENDING || payment.status === PaymentStatus.AUTHORIZED) {
    const result = await deps.provider.charge({
      idempotencyKey: providerKeys.charge(input.orderId),
      amount: input.amount,
      method: input.paymentMethod,
      reference: input.orderId,
    });
    const recorded = await recordOutcome(deps, input.orderId, observationOf(result));
    if (recorded.kind !== 'recorded') throw new Error(`payment of order ${input.orderId} disappeared while it was charged`);
    payment = recorded.payment;
  }
  return outcomeOf(payment);
}

/**
 * The order's payment, recorded as PENDING when it is the first call (one insert, no transaction);
 * a replay, or a concurrent first call, finds the row the first one made. A different request
 * for the same order is refused.
 */
async function openPayment(deps: PaymentDeps, input: ChargeInput): Promise<PaymentEntity> {
  const em = deps.orm.em.fork();
  const fresh = em.create(
    Payment,
    {
      orderId: input.orderId,
      customerId: input.userId,
      status: PaymentStatus.PENDING,
      amount: input.amount.amount,
      currency: input.amount.currency,
      method: input.paymentMethod,
      providerPaymentId: null,
      statusReason: null,
    },
    { persist: false },
  );
  let payment: PaymentEntity = fresh;
  try {
    await em.insert(fresh);
  } catch (error) {
    if (!(error instanceof UniqueConstraintViolationException)) throw error;
    payment = await deps.orm.em.fork().findOneOrFail(Payment, { orderId: input.orderId });
  }
  const differences = {
    ...(payment.amount !== input.amount.amount || payment.currency !== input.amount.currency ? { amount: { recorded: { amount: payment.amount, currency: payment.currency }, requested: input.amount } } : {}),
    ...(payment.customerId !== input.userId ? { userId: { recorded: payment.customerId, requested: input.userId } } : {}),
    ...(payment.method !== input.paymentMethod ? { paymentMethod: { recorded: payment.method, requested: input.paymentMethod } } : {}),
  };
  if (Object.keys(differences).length > 0) {
    throw new DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, `Order ${input.orderId} was already charged with different details`, { orderId: input.orderId, ...differences });
  }
  return payment;
}

function observationOf(result: ChargeResult): Observation {
  switch (result.status) {
    case 'succeeded':
    case 'requires_confirmation':
      return { kind: result.status, providerPaymentId: result.providerPaymentId };
    case 'declined':
      return { kind: 'declined', providerPaymentId: result.providerPaymentId, reason: result.reason };
    case 'canceled':
      return { kind: 'canceled', reason: 'cancelled before the provider processed the charge' };
  }
}

/** The first outcome, as a replay reports it again. */
function outcomeOf(payment: PaymentEntity): ChargeOutcome {
  switch (payment.status) {
    case PaymentStatus.CAPTURED:
    case PaymentStatus.PENDING_CONFIRMATION:
      return { paymentId: payment.id, status: payment.status };
    case PaymentStatus.DECLINED:
    case PaymentStatus.FAILED:
      throw new DomainError(ErrorCode.PAYMENT_DECLINED, `The payment was declined: ${payment.statusReason ?? 'no reason given'}`, {
        paymentId: payment.id,
        status: payment.status,
        reason: payment.statusReason,
      });
    case PaymentStatus.CANCELED:
    case PaymentStatus.REFUNDED:
      throw new DomainError(ErrorCode.CONFLICT, `The payment of order ${payment.orderId} was ${payment.status.toLowerCase()}; it is not charged again`, {
        paymentId: payment.id,
        status: payment.status,
      });
    case PaymentStatus.PENDING:
    case PaymentStatus.AUTHORIZED:
      throw new Error(`payment ${payment.id} is still ${payment.status} after the provider answered`);
  }
}
