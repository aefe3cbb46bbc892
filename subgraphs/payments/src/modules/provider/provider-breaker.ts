import CircuitBreaker from 'opossum';
import type { Logger } from '@agora/service';
import { counter } from '@agora/telemetry';
import { ProviderRequestError, ProviderRetryableError, ProviderUnavailableError, type PaymentProvider } from './payment-provider.ts';

export interface BreakerSettings {
  /** A call that takes longer fails with a timeout and its signal is aborted. */
  timeoutMs: number;
  /** Failed calls, in percent of the calls in the rolling window, above which the breaker opens. */
  errorThresholdPercentage: number;
  /** How long the breaker stays open before one trial call may pass (half-open). */
  resetTimeoutMs: number;
  /** Calls in the window before the breaker may open at all. */
  volumeThreshold: number;
  rollingWindowMs: number;
  /**
   * Bulkhead: provider calls in flight at most; one more is refused at once (ProviderUnavailableError)
   * instead of waiting, so a provider that hangs holds at most this many requests of ours.
   */
  maxConcurrentCalls: number;
  /**
   * After a call failed (timed out or errored), the next call with the same idempotency key is
   * refused at once (ProviderUnavailableError) until this long has passed, without reaching the
   * provider, its bulkhead or its breaker.
   */
  retryAfterMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

/** The provider behind the breaker, plus what metrics and health checks read from it. */
export interface GuardedPaymentProvider extends PaymentProvider {
  state(): BreakerState;
  /** opossum's rolling counters: fires, failures, timeouts, rejects, successes, latency… */
  stats(): CircuitBreaker.Stats;
  /** Called on every state change, e.g. to set a gauge. */
  onStateChange(listener: (state: BreakerState) => void): void;
  shutdown(): void;
}

interface Call {
  /** The request's idempotency key: one charge, refund or cancel of one order. */
  key: string;
  run: (signal: AbortSignal) => Promise<unknown>;
  /** One per call: a timeout aborts this call only, not the others in flight. */
  controller: AbortController;
}

const heldCalls = counter({
  name: 'agora_payment_provider_held_calls_total',
  help: 'Provider calls refused before the provider because the same request (idempotency key) failed less than PAYMENT_PROVIDER_RETRY_AFTER_MS ago',
});

/**
 * Wraps every provider call in one opossum breaker (one dependency, one breaker): a call past
 * `timeoutMs` fails and is aborted through its signal; when too many calls fail the breaker
 * opens and calls fail at once with ProviderUnavailableError until a trial call succeeds.
 * Requests the provider refused (ProviderRequestError) or answered as retryable (ProviderRetryableError)
 * say nothing about its health and do not count.
 *
 * A request whose call failed is not sent again for `retryAfterMs` (its retries fail at once), so
 * one payment the provider never answers counts once per interval against the breaker and holds
 * a bulkhead slot for one timeout per interval, not one per saga retry: a third of the cards
 * hanging no longer opens the breaker for the healthy ones, nor fills the bulkheads (orders' and
 * ours) with their retries (docs/adr/0023-payment-retries-held-off.md).
 */
export function guardProvider(provider: PaymentProvider, settings: BreakerSettings, logger: Logger): GuardedPaymentProvider {
  const breaker = new CircuitBreaker<[Call], unknown>((call) => call.run(call.controller.signal), {
    name: 'payment-provider',
    timeout: settings.timeoutMs,
    errorThresholdPercentage: settings.errorThresholdPercentage,
    resetTimeout: settings.resetTimeoutMs,
    volumeThreshold: settings.volumeThreshold,
    rollingCountTimeout: settings.rollingWindowMs,
    rollingCountBuckets: 10,
    capacity: settings.maxConcurrentCalls,
    // A call refused by our own bulkhead says nothing about the provider either (opossum then
    // counts it as a success in its window, and as a semaphoreRejection).
    errorFilter: (error: unknown) => error instanceof ProviderRequestError || error instanceof ProviderRetryableError || isBreakerError(error, 'ESEMLOCKED'),
  });
  const stateOf = (): BreakerState => (breaker.opened ? 'open' : breaker.halfOpen ? 'half_open' : 'closed');
  const listeners: ((state: BreakerState) => void)[] = [];
  const changed = () => {
    const state = stateOf();
    logger.warn({ breaker: 'payment-provider', state }, `payment provider breaker ${state}`);
    for (const listener of listeners) listener(state);
  };
  breaker.on('open', changed);
  breaker.on('halfOpen', changed);
  breaker.on('close', changed);
  /** Keys whose last call failed, with when, oldest first (at most the failures of one interval). */
  const failedAt = new Map<string, number>();
  breaker.on('failure', (error, _latency, [call]) => {
    if (isBreakerError(error, 'ETIMEDOUT')) call.controller.abort(new ProviderUnavailableError(error.message));
    const now = Date.now();
    failedAt.delete(call.key);
    failedAt.set(call.key, now);
    for (const [key, at] of failedAt) {
      if (at + settings.retryAfterMs > now) break;
      failedAt.delete(key);
    }
  });
  const holdOff = (key: string) => {
    const at = failedAt.get(key);
    if (at === undefined) return;
    if (at + settings.retryAfterMs <= Date.now()) {
      failedAt.delete(key);
      return;
    }
    heldCalls.inc();
    throw new ProviderUnavailableError(`the payment provider failed this request's previous call less than ${settings.retryAfterMs} ms ago; it is not sent again sooner`);
  };

  const fire = async <T>(key: string, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    holdOff(key);
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    try {
      return (await breaker.fire({ key, run, controller })) as T;
    } catch (error) {
      if (isBreakerError(error, 'EOPENBREAKER')) throw new ProviderUnavailableError('the payment provider is unavailable (circuit breaker open)', { cause: error });
      if (isBreakerError(error, 'ESEMLOCKED')) throw new ProviderUnavailableError(`the payment provider already has ${settings.maxConcurrentCalls} calls in flight (bulkhead full); retry later`, { cause: error });
      if (isBreakerError(error, 'ETIMEDOUT')) throw new ProviderUnavailableError(`the payment provider did not answer within ${settings.timeoutMs} ms`, { cause: error });
      if (error instanceof ProviderRequestError || error instanceof ProviderUnavailableError) throw error;
      throw new ProviderUnavailableError(`the payment provider call failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      signal?.removeEventListener('abort', forward);
    }
  };

  return {
    charge: (request) => fire(request.idempotencyKey, request.signal, (signal) => provider.charge({ ...request, signal })),
    refund: (request) => fire(request.idempotencyKey, request.signal, (signal) => provider.refund({ ...request, signal })),
    cancel: (request) => fire(request.idempotencyKey, request.signal, (signal) => provider.cancel({ ...request, signal })),
    state: stateOf,
    stats: () => breaker.stats,
    onStateChange: (listener) => listeners.push(listener),
    shutdown: () => breaker.shutdown(),
  };
}

function isBreakerError(error: unknown, code: 'ETIMEDOUT' | 'EOPENBREAKER' | 'ESEMLOCKED'): error is Error {
  return error instanceof Error && CircuitBreaker.isOurError(error) && (error as Error & { code?: unknown }).code === code;
}
