import CircuitBreaker from 'opossum';
import type { Logger } from '@agora/service';
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
  run: (signal: AbortSignal) => Promise<unknown>;
  /** One per call: a timeout aborts this call only, not the others in flight. */
  controller: AbortController;
}

/**
 * Wraps every provider call in one opossum breaker (one dependency, one breaker): a call past
 * `timeoutMs` fails and is aborted through its signal; when too many calls fail the breaker
 * opens and calls fail at once with ProviderUnavailableError until a trial call succeeds.
 * Requests the provider refused (ProviderRequestError) or answered as retryable (ProviderRetryableError)
 * say nothing about its health and do not count.
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
  breaker.on('failure', (error, _latency, [call]) => {
    if (isBreakerError(error, 'ETIMEDOUT')) call.controller.abort(new ProviderUnavailableError(error.message));
  });

  const fire = async <T>(signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    try {
      return (await breaker.fire({ run, controller })) as T;
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
    charge: (request) => fire(request.signal, (signal) => provider.charge({ ...request, signal })),
    refund: (request) => fire(request.signal, (signal) => provider.refund({ ...request, signal })),
    cancel: (request) => fire(request.signal, (signal) => provider.cancel({ ...request, signal })),
    state: stateOf,
    stats: () => breaker.stats,
    onStateChange: (listener) => listeners.push(listener),
    shutdown: () => breaker.shutdown(),
  };
}

function isBreakerError(error: unknown, code: 'ETIMEDOUT' | 'EOPENBREAKER' | 'ESEMLOCKED'): error is Error {
  return error instanceof Error && CircuitBreaker.isOurError(error) && (error as Error & { code?: unknown }).code === code;
}
