import type { Logger } from '@agora/service';
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConstantBackoff,
  ExponentialBackoff,
  handleWhen,
  IsolatedCircuitError,
  retry,
  timeout,
  TimeoutStrategy,
  type CircuitBreakerPolicy,
  type GeneratorFn,
  type RetryPolicy,
  type TimeoutPolicy,
} from 'cockatiel';
import type { ResiliencySpec } from '../components/resources.ts';
import { CelError, compileCel, type CelProgram } from './cel.ts';
import { parseResiliencySpecs, ResiliencyConfigError, type CircuitBreakerSpec, type PolicyNames, type ResiliencyConfig, type RetrySpec } from './spec.ts';
import { TRIP_VARIABLES, TripBreaker } from './trip-breaker.ts';

// daprd's resiliency (https://docs.dapr.io/operations/resiliency/) on cockatiel: named timeout,
// retry and circuit-breaker policies applied to targets (apps, components inbound/outbound),
// falling back to the Default…Policy names when a target has no entry. Per attempt, as daprd
// nests them: retry( circuitBreaker( timeout( call ) ) ).

export { ResiliencyConfigError } from './spec.ts';

/**
 * A timeout's options: its signal is aborted when the attempt times out, not also after every
 * attempt that returned (cockatiel's default), which made a DOMException per call for nothing:
 * each call has read its answer whole by the time it returns.
 */
const ATTEMPT_TIMEOUT = { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false };

/** Runs one call under a target's policies (timeout, retries, circuit breaker). */
export interface ResiliencyPolicy {
  /**
   * Each attempt gets a signal that aborts when the timeout policy expires. A circuit breaker that is
   * open fails the call at once, without retrying. Aborting `signal` stops further attempts and
   * rejects at once with its reason.
   */
  execute<T>(call: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** daprd's component kinds, for the `Default<Kind>Component<Direction>…Policy` names. */
export type ComponentKind = 'Pubsub' | 'Statestore' | 'Secretstore' | 'Binding' | 'Configuration' | 'Lock' | 'Crypto' | 'Conversation';

/** cockatiel's breaker states, named as gobreaker (daprd) names them, plus cockatiel's manual isolation. */
export type CircuitBreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

export interface CircuitBreakerStatus {
  /** The circuit breaker policy's name in the Resiliency resource. */
  policy: string;
  /** What it guards: `app[<app id>]` or `component[<name>]` (inbound and outbound share one breaker, as in daprd). */
  target: string;
  state: CircuitBreakerState;
}

export interface Resiliency {
  /** Service invocation of an app id. */
  forApp(appId: string): ResiliencyPolicy;
  /** Deliveries from a pub/sub component to this app. */
  forComponentInbound(component: string, kind?: ComponentKind): ResiliencyPolicy;
  /** Calls from this app into a component (publish, state). */
  forComponentOutbound(component: string, kind?: ComponentKind): ResiliencyPolicy;
  /** The circuit breakers made so far (each on its target's first call) and the state each is in now. */
  circuitBreakers(): CircuitBreakerStatus[];
}

/** A failure that no retry can fix (a refused topic, a malformed request): never retried, not counted by breakers. */
export class NonRetriableError extends Error {
  override name = 'NonRetriableError';
}

/** An attempt that failed with a status code: a retry policy with `matching` retries only the codes it lists. */
export class StatusCodeError extends Error {
  override name = 'StatusCodeError';
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

const DEFAULT_TRIP = 'consecutiveFailures > 5';
const DEFAULT_BREAKER_TIMEOUT_MS = 60_000;
const DEFAULT_CONSTANT_MS = 5_000;
const DEFAULT_INITIAL_INTERVAL_MS = 500;
const DEFAULT_MAX_INTERVAL_MS = 60_000;
/** cenkalti/backoff's defaults, which daprd's exponential retries use. */
const EXPONENTIAL_MULTIPLIER = 1.5;
const RANDOMIZATION_FACTOR = 0.5;
const MAX_ELAPSED_MS = 15 * 60_000;

const neverAborted = new AbortController().signal;

/** daprd's exponential schedule: interval × 1.5 per retry, ±50 % jitter, capped at maxInterval. */
const daprExponential: GeneratorFn<number> = (attempt = 0, options) => {
  const interval = options.initialDelay * options.exponent ** attempt;
  const jitter = 1 - RANDOMIZATION_FACTOR + Math.random() * 2 * RANDOMIZATION_FACTOR;
  return [Math.min(options.maxDelay, interval * jitter), attempt + 1];
};

/** Settles like `work`, or rejects with the signal's reason as soon as it aborts. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function statusRetriable(spec: RetrySpec, error: unknown): boolean {
  if (!(error instanceof StatusCodeError) || !spec.matching) return true;
  const ranges = error.statusCode <= 16 ? spec.matching.gRPCStatusCodes : spec.matching.httpStatusCodes;
  return !ranges || ranges.some(([low, high]) => error.statusCode >= low && error.statusCode <= high);
}

function backoffFor(spec: RetrySpec): ConstantBackoff | ExponentialBackoff<number> {
  if (spec.policy === 'constant') return new ConstantBackoff(spec.duration ?? DEFAULT_CONSTANT_MS);
  return new ExponentialBackoff({
    generator: daprExponential,
    initialDelay: spec.initialInterval ?? DEFAULT_INITIAL_INTERVAL_MS,
    maxDelay: spec.maxInterval ?? DEFAULT_MAX_INTERVAL_MS,
    exponent: EXPONENTIAL_MULTIPLIER,
  });
}

/** A fresh retry policy per call: its give-up rules (elapsed time, status codes) are per call. */
function retryPolicyFor(spec: RetrySpec, label: string, logger: Logger): RetryPolicy {
  const started = Date.now();
  const retriable = (error: unknown) =>
    !(error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError || error instanceof NonRetriableError) &&
    statusRetriable(spec, error) &&
    (spec.policy === 'constant' || Date.now() - started < MAX_ELAPSED_MS);
  const maxRetries = spec.maxRetries ?? -1;
  const policy = retry(handleWhen(retriable), { maxAttempts: maxRetries < 0 ? Number.POSITIVE_INFINITY : maxRetries, backoff: backoffFor(spec) }).dangerouslyUnref();
  policy.onRetry((event) => {
    const reason = 'error' in event ? String(event.error) : 'result rejected';
    const entry = { policy: label, attempt: event.attempt, delayMs: Math.round(event.delay), reason };
    if (event.attempt === 1) logger.warn(entry, 'operation failed; retrying');
    else logger.debug(entry, 'operation failed again; retrying');
  });
  return policy;
}

interface PolicyParts {
  label: string;
  timeout: TimeoutPolicy | undefined;
  retry: RetrySpec | undefined;
  breaker: CircuitBreakerPolicy | undefined;
}

function policyFrom(parts: PolicyParts, logger: Logger): ResiliencyPolicy {
  return {
    async execute<T>(call: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
      signal?.throwIfAborted();
      const attempt = (attemptSignal: AbortSignal): Promise<T> =>
        parts.timeout ? parts.timeout.execute((context) => call(context.signal), attemptSignal) : call(attemptSignal);
      const guarded = (attemptSignal: AbortSignal): Promise<T> =>
        parts.breaker ? parts.breaker.execute((context) => attempt(context.signal), attemptSignal) : attempt(attemptSignal);
      const work = parts.retry
        ? retryPolicyFor(parts.retry, parts.label, logger).execute((context) => {
            // A retry scheduled before the abort must not start another attempt.
            context.signal.throwIfAborted();
            return guarded(context.signal);
          }, signal)
        : guarded(signal ?? neverAborted);
      return untilAborted(work, signal);
    },
  };
}

function stateName(state: CircuitState): CircuitBreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Isolated:
      return 'isolated';
  }
}

function compileTrip(name: string, trip: string | undefined): CelProgram {
  try {
    return compileCel(trip ?? DEFAULT_TRIP, TRIP_VARIABLES);
  } catch (error) {
    if (error instanceof CelError) throw new ResiliencyConfigError(`circuit breaker policy "${name}": invalid trip expression: ${error.message}`);
    throw error;
  }
}

function defaultNames(config: ResiliencyConfig, levels: readonly string[]): PolicyNames {
  const candidates = (kind: string) => [...levels, ''].map((level) => `Default${level}${kind}Policy`);
  return {
    timeout: candidates('Timeout').find((name) => config.policies.timeouts.has(name)),
    retry: candidates('Retry').find((name) => config.policies.retries.has(name)),
    circuitBreaker: candidates('CircuitBreaker').find((name) => config.policies.circuitBreakers.has(name)),
  };
}

function componentLevels(direction: 'Inbound' | 'Outbound', kind: ComponentKind | undefined): string[] {
  return [...(kind ? [`${kind}Component${direction}`] : []), `Component${direction}`, 'Component'];
}

/**
 * The sidecar's resiliency from its Resiliency resources. Throws ResiliencyConfigError (stopping
 * the start) for an invalid spec, a trip expression outside the supported CEL subset, or a target
 * that names an undefined policy.
 */
export function buildResiliency(specs: readonly ResiliencySpec[], logger: Logger): Resiliency {
  const config = parseResiliencySpecs(specs);
  const trips = new Map([...config.policies.circuitBreakers].map(([name, spec]) => [name, compileTrip(name, spec.trip)]));
  const breakers = new Map<string, { policy: string; target: string; breaker: CircuitBreakerPolicy; halfOpenAfterMs: number; openedAt: number }>();
  const policies = new Map<string, ResiliencyPolicy>();

  const breakerFor = (name: string, spec: CircuitBreakerSpec, instance: string, target: string): CircuitBreakerPolicy => {
    const key = `${name}-${instance}`;
    const existing = breakers.get(key);
    if (existing) return existing.breaker;
    const trip = trips.get(name) ?? compileTrip(name, spec.trip);
    const halfOpenAfterMs = spec.timeout || DEFAULT_BREAKER_TIMEOUT_MS;
    const created = circuitBreaker(handleWhen((error) => !(error instanceof NonRetriableError)), {
      halfOpenAfter: halfOpenAfterMs,
      breaker: new TripBreaker(trip, spec.interval ?? 0),
      halfOpenSampling: { calls: Math.max(1, spec.maxRequests ?? 1), threshold: 0 },
    });
    const entry = { policy: name, target, breaker: created, halfOpenAfterMs, openedAt: 0 };
    created.onStateChange((state) => {
      if (state === CircuitState.Open) entry.openedAt = Date.now();
      logger.info({ circuitBreaker: key, state: CircuitState[state] }, 'circuit breaker changed state');
    });
    breakers.set(key, entry);
    return created;
  };

  const resolve = (key: string, names: PolicyNames, instance: string, target: string): ResiliencyPolicy => {
    const cached = policies.get(key);
    if (cached) return cached;
    const timeoutMs = names.timeout === undefined ? undefined : config.policies.timeouts.get(names.timeout);
    const breakerSpec = names.circuitBreaker === undefined ? undefined : config.policies.circuitBreakers.get(names.circuitBreaker);
    const policy = policyFrom(
      {
        label: key,
        timeout: timeoutMs ? timeout(timeoutMs, ATTEMPT_TIMEOUT) : undefined,
        retry: names.retry === undefined ? undefined : config.policies.retries.get(names.retry),
        breaker: breakerSpec && names.circuitBreaker ? breakerFor(names.circuitBreaker, breakerSpec, instance, target) : undefined,
      },
      logger,
    );
    policies.set(key, policy);
    return policy;
  };

  return {
    forApp: (appId) => resolve(`app[${appId}]`, config.targets.apps.get(appId) ?? defaultNames(config, ['App']), appId, `app[${appId}]`),
    forComponentInbound: (component, kind) =>
      resolve(`component[${component}] inbound${kind ? ` (${kind})` : ''}`, config.targets.components.get(component)?.inbound ?? defaultNames(config, componentLevels('Inbound', kind)), component, `component[${component}]`),
    forComponentOutbound: (component, kind) =>
      resolve(`component[${component}] outbound${kind ? ` (${kind})` : ''}`, config.targets.components.get(component)?.outbound ?? defaultNames(config, componentLevels('Outbound', kind)), component, `component[${component}]`),
    circuitBreakers: () =>
      [...breakers.values()].map(({ policy, target, breaker, halfOpenAfterMs, openedAt }) => {
        // cockatiel moves to half-open only when the next call comes; gobreaker (daprd) reports it once the timeout has passed.
        const halfOpen = breaker.state === CircuitState.Open && Date.now() - openedAt >= halfOpenAfterMs;
        return { policy, target, state: halfOpen ? 'half-open' : stateName(breaker.state) };
      }),
  };
}
