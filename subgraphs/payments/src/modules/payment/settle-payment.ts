import { audit, DomainError, ErrorCode } from '@agora/service';
import { providerKeys } from '../provider/payment-provider.ts';
import { Payment, PaymentStatus, type PaymentEntity } from './payment.entity.ts';
import { recordOutcome, type Observation, type PaymentDeps } from './record-outcome.ts';

// Compensation: make sure the order's money is not (or no longer) with us. A captured payment is
// refunded; one still open (pending, waiting for confirmation) is cancelled at the provider, and
// if the provider captured it meanwhile, refunded. Each provider call has a key derived from the
// order id, so repeating a settle after a crash or a timeout moves no money twice.

const MAX_ROUNDS = 5;

/** Settles the payment of `orderId`; null when the order has none. The result is its final status. */
export async function settlePayment(deps: PaymentDeps, orderId: string, reason: string): Promise<PaymentEntity | null> {
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const payment = await deps.orm.em.fork().findOne(Payment, { orderId });
    if (!payment) return null;
    switch (payment.status) {
      case PaymentStatus.DECLINED:
      case PaymentStatus.FAILED:
      case PaymentStatus.CANCELED:
      case PaymentStatus.REFUNDED:
        return payment;
      case PaymentStatus.CAPTURED: {
        if (!payment.providerPaymentId) {
          throw new DomainError(ErrorCode.CONFLICT, `Payment ${payment.id} has no provider payment id; refund it at the provider by hand`, { paymentId: payment.id });
        }
        const refund = await deps.provider.refund({
          idempotencyKey: providerKeys.refund(orderId),
          providerPaymentId: payment.providerPaymentId,
          amount: { amount: payment.amount, currency: payment.currency },
        });
        await recordOutcome(deps, orderId, { kind: 'refunded', providerRefundId: refund.providerRefundId, reason });
        audit(deps.logger, { action: 'payments.refund', outcome: 'succeeded', resource: `payment:${payment.id}`, orderId, amount: { amount: payment.amount, currency: payment.currency }, reason });
        break;
      }
      case PaymentStatus.PENDING:
      case PaymentStatus.AUTHORIZED:
      case PaymentStatus.PENDING_CONFIRMATION: {
        const result = await deps.provider.cancel({ idempotencyKey: providerKeys.cancel(orderId), chargeIdempotencyKey: providerKeys.charge(orderId) });
        let seen: Observation;
        switch (result.status) {
          case 'canceled':
            seen = { kind: 'canceled', reason };
            break;
          // Captured (or even refunded) at the provider before the cancel reached it: record the
          // capture, and the next round refunds it.
          case 'succeeded':
          case 'refunded':
            seen = { kind: 'succeeded', providerPaymentId: result.providerPaymentId };
            break;
          case 'declined':
          case 'failed':
            seen = { kind: result.status, providerPaymentId: result.providerPaymentId, reason: `${result.status} at the provider` };
            break;
        }
        await recordOutcome(deps, orderId, seen);
        break;
      }
    }
  }
  throw new Error(`the payment of order ${orderId} kept changing while it was settled`);
}
