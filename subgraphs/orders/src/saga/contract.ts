// What the OrderSaga workflow and its activities exchange. Everything here is plain JSON: it is
// stored in the workflow's history.

export interface Money {
  amount: number;
  currency: string;
}

export interface SagaLine {
  productId: string;
  quantity: number;
}

export interface SagaInput {
  orderId: string;
  userId: string;
  lines: SagaLine[];
  total: Money;
  paymentMethod: string;
  /** Fixed when the saga starts, so that a replay sees the same values. */
  settings: {
    paymentConfirmationTimeoutSeconds: number;
    stepTimeoutSeconds: number;
  };
  /** The trace of the request that started the saga: every activity continues it (docs/adr/0013-telemetry.md). */
  traceparent?: string | undefined;
}

/** An activity never throws on purpose: it reports its outcome, and the workflow applies the step's policy. */
export type Outcome<T> =
  | { ok: true; value: T }
  /** `rejected`: the participant said no (out of stock, declined); retrying cannot help. */
  | { ok: false; rejected: boolean; code?: string | undefined; message: string };

/**
 * What the customer is told of a technical failure (a participant that did not answer or failed
 * unexpectedly), in the order's status reason, its notification and its saga steps: the error
 * itself names hosts, ports and Dapr's codes, and stays in the step's record for admins and in
 * the logs. A refusal or a timeout is told in its own words.
 */
export const TECHNICAL_FAILURE = 'a service it needs did not answer';

/** A failure as the customer reads it (see TECHNICAL_FAILURE). */
export const customerReason = (failure: Extract<Outcome<unknown>, { ok: false }>): string =>
  failure.rejected || failure.code === 'TIMEOUT' ? failure.message : TECHNICAL_FAILURE;

export interface StepInput {
  orderId: string;
  /** The saga-steps row this activity records (e.g. "reserve-stock:<product id>"). */
  step: string;
  /** The saga's trace (SagaInput.traceparent): the activity's span is its child. */
  traceparent?: string | undefined;
}

export type ReserveInput = StepInput & SagaLine;
export type ChargeInput = StepInput & { userId: string; amount: Money; paymentMethod: string };
export type ReasonInput = StepInput & { reason: string };
/** The escalation's input: the customer's reason, and the same with the failure's own message for the alert event and the log (absent when scheduled before 2026-12-08). */
export type EscalationInput = ReasonInput & { error?: string };

export interface ChargeResult {
  paymentId: string;
  status: 'CAPTURED' | 'PENDING_CONFIRMATION';
}

/** External events the saga listens to (names are case-insensitive in Dapr). */
export const SagaEvent = {
  /** The payment provider confirmed an asynchronous payment (payments' webhook → event → orders). */
  PAYMENT_CONFIRMED: 'payment-confirmed',
  PAYMENT_FAILED: 'payment-failed',
  /** The customer (cancelOrder) or an admin (compensateSaga) asked to stop. */
  CANCEL_REQUESTED: 'cancel-requested',
} as const;

/** Activity names, registered with the workflow runtime under these names. */
export const Activity = {
  RESERVE_STOCK: 'reserveStock',
  CHARGE_PAYMENT: 'chargePayment',
  CONFIRM_ORDER: 'confirmOrder',
  COMMIT_STOCK: 'commitStock',
  CANCEL_PAYMENT: 'cancelPayment',
  RELEASE_STOCK: 'releaseStock',
  CANCEL_ORDER: 'cancelOrder',
  ESCALATE: 'escalate',
} as const;

export const ORDER_SAGA = 'OrderSaga';

export type SagaResult = { status: 'CONFIRMED' } | { status: 'CANCELLED'; reason: string } | { status: 'NEEDS_ATTENTION'; reason: string };
