// The payment provider port: what payments needs from a card processor. Every call carries an
// idempotency key, so a retried call (after a timeout, a crash, a saga replay) is answered from
// the provider's record of the first one and never moves money twice.

/** Integer minor units of an ISO 4217 currency. */
export interface Money {
  amount: number;
  currency: string;
}

export interface ChargeRequest {
  idempotencyKey: string;
  amount: Money;
  /** A payment method token, e.g. pm_card_visa. */
  method: string;
  /** Ours, echoed in webhooks (the provider's metadata): the order id. */
  reference: string;
  signal?: AbortSignal | undefined;
}

/** A charge's answer. A decline is an answer, not an error: the provider did its job. */
export type ChargeResult =
  | { status: 'succeeded'; providerPaymentId: string }
  | { status: 'requires_confirmation'; providerPaymentId: string }
  | { status: 'declined'; providerPaymentId: string; reason: string }
  /** The charge was cancelled (by a cancel with its key) before the provider processed it. */
  | { status: 'canceled'; providerPaymentId: string };

export interface RefundRequest {
  idempotencyKey: string;
  providerPaymentId: string;
  amount: Money;
  signal?: AbortSignal | undefined;
}

export interface RefundResult {
  providerRefundId: string;
}

export interface CancelRequest {
  idempotencyKey: string;
  /** The key of the charge to cancel: known even when the charge never answered. */
  chargeIdempotencyKey: string;
  signal?: AbortSignal | undefined;
}

/**
 * `canceled`: no money moves for that charge, now or later. `succeeded`: too late, the money
 * was captured (refund it). `declined`/`failed`/`refunded`: nothing to cancel.
 */
export type CancelResult =
  | { status: 'canceled' }
  | { status: 'succeeded'; providerPaymentId: string }
  | { status: 'declined' | 'failed' | 'refunded'; providerPaymentId: string };

export interface PaymentProvider {
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<RefundResult>;
  cancel(request: CancelRequest): Promise<CancelResult>;
}

/** The provider could not answer now (network, timeout, outage, open breaker): the same call may succeed later. */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

/**
 * The provider answered promptly that this one request failed and may be retried (a card
 * network hiccup, like Stripe's `processing_error`). The provider itself is healthy: the
 * breaker does not count it.
 */
export class ProviderRetryableError extends ProviderUnavailableError {
  override name = 'ProviderRetryableError';
}

/** The provider refused the request itself (bad parameters, an idempotency key reused with other ones): retrying cannot help. */
export class ProviderRequestError extends Error {
  override name = 'ProviderRequestError';
}

/** Idempotency keys sent to the provider: one charge, one refund and one cancel per order. */
export const providerKeys = {
  charge: (orderId: string) => `order-${orderId}-charge`,
  refund: (orderId: string) => `order-${orderId}-refund`,
  cancel: (orderId: string) => `order-${orderId}-cancel`,
};
