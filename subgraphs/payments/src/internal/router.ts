import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { domainFailure, internalProcedure, internalRouter } from '@agora/internal-api';
import { DomainError, ErrorCode } from '@agora/service';
import { chargePayment, type ChargeOutcome } from '../modules/payment/charge-payment.ts';
import { Payment, PaymentStatus } from '../modules/payment/payment.entity.ts';
import type { PaymentDeps } from '../modules/payment/record-outcome.ts';
import { settlePayment } from '../modules/payment/settle-payment.ts';
import { ProviderRequestError, ProviderUnavailableError } from '../modules/provider/payment-provider.ts';

// Payments' commands for the order saga (docs: ../../README.md#internal-api). Each is idempotent
// per order id: a replay returns the first outcome and moves no money twice.

const orderId = z.uuid();
const money = z.object({
  /** Integer minor units. */
  amount: z.number().int().positive().max(2_147_483_647),
  currency: z.string().regex(/^[A-Z]{3}$/, { message: 'expected an ISO 4217 code of three capital letters' }),
});
const reason = z.string().trim().min(1).max(500);

const chargeInput = z.object({
  orderId,
  userId: z.string().min(1).max(255),
  amount: money,
  paymentMethod: z.string().min(1).max(64),
});
const settleInput = z.object({ orderId, reason });

export interface PaymentView {
  paymentId: string;
  status: PaymentStatus;
  amount: { amount: number; currency: string };
}

/**
 * Domain failures keep their code (PAYMENT_DECLINED, IDEMPOTENCY_KEY_REUSED, …); a provider that
 * cannot answer now is SERVICE_UNAVAILABLE without a domain code, which tells the saga to retry;
 * a request the provider refused (e.g. a cancel of a payment it is processing) is CONFLICT:
 * retrying cannot help, so a compensating saga escalates at once.
 */
const procedure = internalProcedure.use(async ({ ctx, path, next }) => {
  const result = await next();
  if (result.ok) return result;
  const cause = result.error.cause;
  if (cause instanceof DomainError) throw domainFailure(cause);
  if (cause instanceof ProviderRequestError) throw domainFailure(new DomainError(ErrorCode.CONFLICT, `the payment provider refused the request: ${cause.message}`));
  if (cause instanceof ProviderUnavailableError) {
    ctx.log.warn({ path, reason: cause.message }, 'payment provider unavailable; the caller may retry');
    throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: cause.message, cause });
  }
  return result;
});

export function createPaymentsRouter(deps: PaymentDeps) {
  return internalRouter({
    /** Charges an order's total once. PAYMENT_DECLINED when declined; IDEMPOTENCY_KEY_REUSED when the order was charged with other details. */
    charge: procedure.input(chargeInput).mutation(({ input }): Promise<ChargeOutcome> => chargePayment(deps, input)),

    /** Refunds a captured payment (compensation); a payment still open is cancelled instead and NOTHING_TO_REFUND is the answer. */
    refund: procedure.input(settleInput).mutation(async ({ input }): Promise<{ status: 'REFUNDED' | 'NOTHING_TO_REFUND' }> => {
      const payment = await settlePayment(deps, input.orderId, input.reason);
      return { status: payment?.status === PaymentStatus.REFUNDED ? 'REFUNDED' : 'NOTHING_TO_REFUND' };
    }),

    /** Cancels a payment whose confirmation never came (the saga's timer fired); one captured meanwhile is refunded. */
    cancel: procedure.input(settleInput).mutation(async ({ input }): Promise<{ status: 'CANCELED' | 'REFUNDED' | 'NOTHING_TO_CANCEL' }> => {
      const payment = await settlePayment(deps, input.orderId, input.reason);
      if (payment?.status === PaymentStatus.CANCELED || payment?.status === PaymentStatus.REFUNDED) return { status: payment.status };
      return { status: 'NOTHING_TO_CANCEL' };
    }),

    /** The order's payment, or null. */
    get: procedure.input(z.object({ orderId })).query(async ({ input }): Promise<PaymentView | null> => {
      const payment = await deps.orm.em.fork().findOne(Payment, { orderId: input.orderId });
      return payment ? { paymentId: payment.id, status: payment.status, amount: { amount: payment.amount, currency: payment.currency } } : null;
    }),
  });
}

export type PaymentsRouter = ReturnType<typeof createPaymentsRouter>;
