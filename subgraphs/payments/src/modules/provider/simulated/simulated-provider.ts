import { randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import type { PaymentMethod } from '@agora/internal-api';
import type { Logger } from '@agora/service';
import { signWebhook, SIGNATURE_HEADER, type ProviderWebhookEvent } from '../../../webhooks/webhook-signature.ts';
import {
  ProviderRequestError,
  ProviderRetryableError,
  type CancelRequest,
  type CancelResult,
  type ChargeRequest,
  type ChargeResult,
  type PaymentProvider,
  type RefundRequest,
  type RefundResult,
} from '../payment-provider.ts';
import { SimulatedCharge, type SimulatedChargeEntity, type SimulatedChargeStatus } from './simulated-charge.entity.ts';

// A payment provider that behaves like real providers' test mode: test payment methods decide
// the outcome (see TEST_CARDS and the payments README). It keeps its own idempotency records in
// simulated_provider_charges and delivers signed webhooks to the payments app, as a real one would.

/** The test payment methods (the list is @agora/internal-api's PAYMENT_METHODS) and what a charge with them does. */
export const TEST_CARDS: Record<PaymentMethod, string> = {
  pm_card_visa: 'succeeds at once',
  pm_card_mastercard: 'succeeds at once',
  pm_card_chargeDeclined: 'is declined (card_declined)',
  pm_card_chargeDeclinedInsufficientFunds: 'is declined (insufficient_funds)',
  pm_card_threeDSecureRequired: 'needs confirmation; confirmed later by a signed webhook',
  pm_card_threeDSecureCancelRefused: 'needs confirmation like pm_card_threeDSecureRequired, and the provider refuses to cancel it (as providers refuse to cancel a payment already processing)',
  pm_card_timeout: 'never answers',
  pm_card_flaky: 'fails transiently on the first two attempts per idempotency key, then succeeds',
};
export type TestCard = PaymentMethod;
/** Methods that need an asynchronous confirmation. */
const NEEDS_CONFIRMATION: ReadonlySet<string> = new Set<TestCard>(['pm_card_threeDSecureRequired', 'pm_card_threeDSecureCancelRefused']);

const DECLINES: Record<string, string> = { pm_card_chargeDeclined: 'card_declined', pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds' };
const FLAKY_FAILURES = 2;
/** Captures remembered in memory for tests (the table keeps them all). */
const CAPTURES_KEPT = 10_000;

export type ConfirmationMode = 'succeed' | 'fail' | 'manual';

export interface SimulatedProviderOptions {
  orm: MikroORM;
  logger: Logger;
  /** Where webhooks go (the payments app's /webhooks/payment-provider); read when one is sent. */
  webhookUrl: () => string;
  webhookSecret: string;
  /** Delay before a charge that needs confirmation is confirmed; `mode` says how. */
  confirmation: { delayMs: number; mode: ConfirmationMode };
  /**
   * Delivery attempts per webhook: non-2xx answers and network errors are retried with exponential
   * backoff from webhookRetryDelayMs, each wait at most 30 s; the default 10 keep trying for about
   * a minute and a half, so an outage of the payments app or its database does not lose a
   * confirmation (real providers keep trying for days).
   */
  webhookAttempts?: number;
  webhookRetryDelayMs?: number;
}

export interface Capture {
  providerPaymentId: string;
  reference: string;
  amount: number;
  currency: string;
}

export interface ConfirmResult {
  providerPaymentId: string;
  status: SimulatedChargeStatus;
  /** The webhook's event id and the HTTP status of its last delivery attempt (undefined: not sent, or no answer). */
  eventId?: string;
  deliveryStatus?: number | undefined;
}

export interface SimulatedPaymentProvider extends PaymentProvider {
  /**
   * Settles a charge waiting for confirmation and delivers the webhook (what the customer's
   * challenge and the provider do later); by provider payment id or by reference (order id).
   * `force` also confirms a charge that is no longer waiting (a cancelled one): the race of a
   * confirmation that happened at the provider just before the cancel reached it.
   */
  confirm(target: { providerPaymentId: string } | { reference: string }, outcome: 'succeeded' | 'failed', options?: { force?: boolean }): Promise<ConfirmResult>;
  /** The provider's record of a charge, by reference (order id). */
  chargeFor(reference: string): Promise<SimulatedChargeEntity | null>;
  /** The captures (money moved) since start, in order, the latest 10 000: a test's proof that nothing was charged twice. */
  captures(): readonly Capture[];
  /** Calls currently hanging (pm_card_timeout) until their signal aborts. */
  hangingCalls(): number;
  /** Schedules the automatic confirmations due from before a restart. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

const chargeResultOf = (charge: SimulatedChargeEntity): ChargeResult | undefined => {
  switch (charge.status) {
    case 'succeeded':
    case 'refunded':
      return { status: 'succeeded', providerPaymentId: charge.id };
    case 'requires_confirmation':
      return { status: 'requires_confirmation', providerPaymentId: charge.id };
    case 'declined':
    case 'failed':
      return { status: 'declined', providerPaymentId: charge.id, reason: charge.reason ?? 'card_declined' };
    case 'canceled':
      return { status: 'canceled', providerPaymentId: charge.id };
    case 'processing':
      return undefined;
  }
};

export function createSimulatedProvider(options: SimulatedProviderOptions): SimulatedPaymentProvider {
  const { orm, logger } = options;
  const log = logger.child({ component: 'simulated-provider' });
  const captures: Capture[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const deliveries = new Set<Promise<unknown>>();
  let hanging = 0;
  const stopping = new AbortController();

  const later = (delayMs: number, run: () => Promise<unknown>) => {
    if (stopping.signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      track(run());
    }, delayMs);
    timer.unref();
    timers.add(timer);
  };
  const track = (work: Promise<unknown>) => {
    const settled = work.catch((error: unknown) => log.error({ err: error }, 'simulated provider background work failed'));
    deliveries.add(settled);
    void settled.finally(() => deliveries.delete(settled));
  };

  /**
   * Runs `work` on the charge row of `key`, locked, in a transaction; the row is created first
   * (from `initial`) when missing. What `work` defers runs once the transaction has committed.
   */
  const withCharge = async <T>(
    key: string,
    initial: Partial<SimulatedChargeEntity> | undefined,
    work: (charge: SimulatedChargeEntity, defer: (action: () => void) => void) => T,
  ): Promise<T> => {
    const deferred: (() => void)[] = [];
    const result = await orm.em.fork().transactional(async (em) => {
      if (initial) {
        const now = new Date();
        await em
          .createQueryBuilder(SimulatedCharge)
          .insert({ idempotencyKey: key, id: newId('sim_pi'), reference: '', status: 'processing', attempts: 0, amount: null, currency: null, method: null, reason: null, confirmAt: null, refundId: null, createdAt: now, updatedAt: now, ...initial })
          .onConflict('idempotencyKey')
          .ignore()
          .execute();
      }
      const charge = await em.findOne(SimulatedCharge, { idempotencyKey: key }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!charge) throw new ProviderRequestError(`no charge with idempotency key ${key}`);
      const outcome = work(charge, (action) => deferred.push(action));
      charge.updatedAt = new Date();
      return outcome;
    });
    for (const action of deferred) action();
    return result;
  };

  const scheduleConfirmation = (charge: SimulatedChargeEntity) => {
    if (!charge.confirmAt || options.confirmation.mode === 'manual') return;
    const outcome = options.confirmation.mode === 'succeed' ? 'succeeded' : 'failed';
    later(Math.max(0, charge.confirmAt.getTime() - Date.now()), () => confirm({ providerPaymentId: charge.id }, outcome));
  };

  const deliver = async (event: ProviderWebhookEvent): Promise<number | undefined> => {
    const body = JSON.stringify(event);
    let status: number | undefined;
    const policy = retry(handleAll, {
      maxAttempts: (options.webhookAttempts ?? 10) - 1,
      backoff: new ExponentialBackoff({ initialDelay: options.webhookRetryDelayMs ?? 250, maxDelay: 30_000 }),
    });
    policy.onFailure(({ reason }) => log.warn({ ...('error' in reason ? { err: reason.error } : {}), eventId: event.id, status }, 'webhook delivery failed'));
    try {
      await policy.execute(async ({ signal }) => {
        status = undefined;
        // Signed afresh per attempt, as real providers do: the timestamp is the sending time.
        const response = await fetch(options.webhookUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signWebhook(options.webhookSecret, body) },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(10_000), signal]),
        });
        status = response.status;
        await response.body?.cancel();
        if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
      }, stopping.signal);
    } catch {
      log.warn({ eventId: event.id, status }, 'webhook not delivered');
    }
    return status;
  };

  const recordCapture = (charge: SimulatedChargeEntity) => {
    captures.push({ providerPaymentId: charge.id, reference: charge.reference, amount: charge.amount ?? 0, currency: charge.currency ?? '' });
    if (captures.length > CAPTURES_KEPT) captures.splice(0, captures.length - CAPTURES_KEPT);
  };

  const confirm: SimulatedPaymentProvider['confirm'] = async (target, outcome, confirmOptions = {}) => {
    const em = orm.em.fork();
    const found = await em.findOne(SimulatedCharge, 'providerPaymentId' in target ? { id: target.providerPaymentId } : { reference: target.reference });
    if (!found) throw new ProviderRequestError(`no simulated charge for ${JSON.stringify(target)}`);
    const settled = await withCharge(found.idempotencyKey, undefined, (charge, defer) => {
      const waiting = charge.status === 'requires_confirmation' || (confirmOptions.force === true && (charge.status === 'canceled' || charge.status === 'processing'));
      if (!waiting) return undefined;
      charge.status = outcome === 'succeeded' ? 'succeeded' : 'failed';
      charge.reason = outcome === 'succeeded' ? null : 'authentication_failed';
      charge.confirmAt = null;
      const snapshot = { ...charge };
      if (outcome === 'succeeded') defer(() => recordCapture(snapshot));
      return snapshot;
    });
    if (!settled) return { providerPaymentId: found.id, status: found.status };
    const event: ProviderWebhookEvent = {
      id: newId('evt_sim'),
      type: outcome === 'succeeded' ? 'payment.succeeded' : 'payment.failed',
      created: Math.floor(Date.now() / 1000),
      data: {
        providerPaymentId: settled.id,
        reference: settled.reference,
        amount: { amount: settled.amount ?? 0, currency: settled.currency ?? '' },
        ...(settled.reason ? { failureReason: settled.reason } : {}),
      },
    };
    return { providerPaymentId: settled.id, status: settled.status, eventId: event.id, deliveryStatus: await deliver(event) };
  };

  const hang = async (signal: AbortSignal | undefined): Promise<never> => {
    hanging += 1;
    try {
      return await new Promise<never>((_resolve, reject) => {
        if (signal?.aborted) reject(signal.reason as Error);
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    } finally {
      hanging -= 1;
    }
  };

  return {
    async charge(request: ChargeRequest): Promise<ChargeResult> {
      const { amount, method } = request;
      const outcome = await withCharge(
        request.idempotencyKey,
        { reference: request.reference, amount: amount.amount, currency: amount.currency, method },
        (charge, defer): ChargeResult | 'hang' | 'transient' => {
          if (charge.amount !== null && (charge.amount !== amount.amount || charge.currency !== amount.currency || charge.method !== method)) {
            throw new ProviderRequestError(`idempotency key ${request.idempotencyKey} was used with other parameters`);
          }
          const decided = chargeResultOf(charge);
          if (decided) return decided;
          charge.attempts += 1;
          if (method === 'pm_card_timeout') return 'hang';
          if (method === 'pm_card_flaky' && charge.attempts <= FLAKY_FAILURES) return 'transient';
          if (NEEDS_CONFIRMATION.has(method)) {
            charge.status = 'requires_confirmation';
            charge.confirmAt = options.confirmation.mode === 'manual' ? null : new Date(Date.now() + options.confirmation.delayMs);
            const snapshot = { ...charge };
            defer(() => scheduleConfirmation(snapshot));
            return { status: 'requires_confirmation', providerPaymentId: charge.id };
          }
          const declined = method in TEST_CARDS ? DECLINES[method] : 'unknown_payment_method';
          if (declined) {
            charge.status = 'declined';
            charge.reason = declined;
            return { status: 'declined', providerPaymentId: charge.id, reason: declined };
          }
          charge.status = 'succeeded';
          const snapshot = { ...charge };
          defer(() => recordCapture(snapshot));
          return { status: 'succeeded', providerPaymentId: charge.id };
        },
      );
      if (outcome === 'hang') return hang(request.signal);
      if (outcome === 'transient') throw new ProviderRetryableError('simulated processing error, retry the charge (pm_card_flaky)');
      return outcome;
    },

    async refund(request: RefundRequest): Promise<RefundResult> {
      const em = orm.em.fork();
      const found = await em.findOne(SimulatedCharge, { id: request.providerPaymentId });
      if (!found) throw new ProviderRequestError(`no such payment: ${request.providerPaymentId}`);
      return withCharge(found.idempotencyKey, undefined, (charge) => {
        // Refunds are full and happen once per charge, whatever the key of a repeated request.
        if (charge.status === 'refunded' && charge.refundId) return { providerRefundId: charge.refundId };
        if (charge.status !== 'succeeded') throw new ProviderRequestError(`payment ${charge.id} is ${charge.status}; only a succeeded payment can be refunded`);
        if (charge.amount !== request.amount.amount || charge.currency !== request.amount.currency) {
          throw new ProviderRequestError(`refund amount ${request.amount.amount} ${request.amount.currency} differs from the charge`);
        }
        charge.status = 'refunded';
        charge.refundId = newId('sim_re');
        return { providerRefundId: charge.refundId };
      });
    },

    async cancel(request: CancelRequest): Promise<CancelResult> {
      // A cancel that arrives first spends the charge's key: the charge, if it ever comes, is refused.
      return withCharge(request.chargeIdempotencyKey, { status: 'canceled' }, (charge): CancelResult => {
        if (charge.method === 'pm_card_threeDSecureCancelRefused' && (charge.status === 'processing' || charge.status === 'requires_confirmation')) {
          throw new ProviderRequestError(`payment ${charge.id} is being processed and cannot be canceled (pm_card_threeDSecureCancelRefused)`);
        }
        switch (charge.status) {
          case 'processing':
          case 'requires_confirmation':
          case 'canceled':
            charge.status = 'canceled';
            charge.confirmAt = null;
            return { status: 'canceled' };
          case 'succeeded':
            return { status: 'succeeded', providerPaymentId: charge.id };
          case 'declined':
          case 'failed':
          case 'refunded':
            return { status: charge.status, providerPaymentId: charge.id };
        }
      });
    },

    confirm,
    chargeFor: (reference) => orm.em.fork().findOne(SimulatedCharge, { reference }),
    captures: () => captures,
    hangingCalls: () => hanging,

    async resume() {
      const due = await orm.em.fork().find(SimulatedCharge, { status: 'requires_confirmation', confirmAt: { $ne: null } });
      for (const charge of due) scheduleConfirmation(charge);
    },

    async stop() {
      stopping.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(deliveries);
    },
  };
}
