import { createLogger } from '@agora/service';
import { BrokenCircuitError, TaskCancelledError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import type { ResiliencySpec } from '../src/components/resources.ts';
import { CelError, compileCel } from '../src/resiliency/cel.ts';
import { parseDuration } from '../src/resiliency/duration.ts';
import { buildResiliency, ResiliencyConfigError, StatusCodeError } from '../src/resiliency/resiliency.ts';

const logger = createLogger('resiliency-test', 'silent');

const resource = (spec: Record<string, unknown>, name = 'test-resiliency'): ResiliencySpec => ({ name, spec, file: `/resources/${name}.yaml` });

/** A call that fails `failures` times, then returns 'ok'; counts its attempts. */
function flaky(failures: number, error: () => Error = () => new Error('boom')) {
  const state = { attempts: 0 };
  const call = async () => {
    state.attempts += 1;
    if (state.attempts <= failures) throw error();
    return 'ok';
  };
  return { state, call };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('duration parsing', () => {
  it('reads Go durations and bare integers as milliseconds', () => {
    expect(parseDuration('5s')).toBe(5_000);
    expect(parseDuration('100ms')).toBe(100);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(40)).toBe(40);
  });

  it('rejects what Go would not parse', () => {
    for (const value of ['', '5 s', 's', '1d', '-1s', 'abc']) expect(parseDuration(value)).toBeUndefined();
  });
});

describe('resiliency spec parsing', () => {
  it('fails the start on an invalid duration, naming the resource and field', () => {
    expect(() => buildResiliency([resource({ policies: { timeouts: { quick: 'soon' } } })], logger)).toThrow(
      /Resiliency test-resiliency \(\/resources\/test-resiliency.yaml\): spec.policies.timeouts.quick: invalid duration "soon"/,
    );
  });

  it('fails the start on a misspelt retry field instead of ignoring it', () => {
    expect(() => buildResiliency([resource({ policies: { retries: { r: { policy: 'constant', maxRetires: 3 } } } })], logger)).toThrow(ResiliencyConfigError);
  });

  it('fails the start when a target names an unknown policy, with its name', () => {
    const spec = { policies: { timeouts: { quick: '1s' } }, targets: { components: { pubsub: { inbound: { timeout: 'quick', retry: 'missingRetry' } } } } };
    expect(() => buildResiliency([resource(spec)], logger)).toThrow(/spec.targets.components.pubsub.inbound refers to unknown retry policy "missingRetry"/);
  });

  it('lets a target refer to a policy defined in another Resiliency resource', () => {
    const policies = resource({ policies: { retries: { shared: { policy: 'constant', duration: '1ms', maxRetries: 1 } } } }, 'policies');
    const targets = resource({ targets: { apps: { orders: { retry: 'shared' } } } }, 'targets');
    expect(() => buildResiliency([targets, policies], logger)).not.toThrow();
  });

  it('fails the start on a trip expression outside the supported CEL subset', () => {
    const spec = { policies: { circuitBreakers: { cb: { trip: 'consecutiveFailures >= 5 && flaky()' } } } };
    expect(() => buildResiliency([resource(spec)], logger)).toThrow(/circuit breaker policy "cb": invalid trip expression: unsupported function flaky\(\)/);
  });
});

describe('retries', () => {
  const retries = (retry: Record<string, unknown>) =>
    buildResiliency([resource({ policies: { retries: { r: retry } }, targets: { apps: { orders: { retry: 'r' } } } })], logger).forApp('orders');

  it('retries a constant policy maxRetries times, then fails with the last error', async () => {
    const { state, call } = flaky(10);
    await expect(retries({ policy: 'constant', duration: '1ms', maxRetries: 2 }).execute(call)).rejects.toThrow('boom');
    expect(state.attempts).toBe(3);
  });

  it('succeeds once an exponential retry gets through', async () => {
    const { state, call } = flaky(3);
    await expect(retries({ policy: 'exponential', initialInterval: '1ms', maxInterval: '5ms', maxRetries: 5 }).execute(call)).resolves.toBe('ok');
    expect(state.attempts).toBe(4);
  });

  it('retries only the status codes listed in matching', async () => {
    const policy = retries({ policy: 'constant', duration: '1ms', maxRetries: 3, matching: { httpStatusCodes: '429,500-599' } });
    const notFound = flaky(10, () => new StatusCodeError(404, 'not found'));
    await expect(policy.execute(notFound.call)).rejects.toThrow('not found');
    expect(notFound.state.attempts).toBe(1);
    const unavailable = flaky(2, () => new StatusCodeError(503, 'unavailable'));
    await expect(policy.execute(unavailable.call)).resolves.toBe('ok');
    expect(unavailable.state.attempts).toBe(3);
  });

  it('stops retrying at once when the caller aborts during a backoff', async () => {
    const controller = new AbortController();
    const { state, call } = flaky(10);
    const running = retries({ policy: 'constant', duration: '1m', maxRetries: -1 }).execute(async () => {
      const result = call();
      if (state.attempts === 1) queueMicrotask(() => controller.abort(new Error('stopped')));
      return result;
    }, controller.signal);
    await expect(running).rejects.toThrow('stopped');
    expect(state.attempts).toBe(1);
  });

  it('uses DefaultComponentInboundRetryPolicy for a component without a target, but not for a direction its target leaves empty', async () => {
    const spec = {
      policies: { retries: { DefaultComponentInboundRetryPolicy: { policy: 'constant', duration: '1ms', maxRetries: 2 } } },
      targets: { components: { statestore: { outbound: {} } } },
    };
    const resiliency = buildResiliency([resource(spec)], logger);
    const inbound = flaky(10);
    await expect(resiliency.forComponentInbound('pubsub', 'Pubsub').execute(inbound.call)).rejects.toThrow('boom');
    expect(inbound.state.attempts).toBe(3);
    const targeted = flaky(10);
    await expect(resiliency.forComponentInbound('statestore').execute(targeted.call)).rejects.toThrow('boom');
    expect(targeted.state.attempts).toBe(1);
  });
});

describe('timeouts', () => {
  it('fails an attempt that outlives the timeout and aborts its signal', async () => {
    const policy = buildResiliency([resource({ policies: { timeouts: { quick: '20ms' } }, targets: { apps: { orders: { timeout: 'quick' } } } })], logger).forApp('orders');
    let seen: AbortSignal | undefined;
    const started = Date.now();
    await expect(
      policy.execute((signal) => {
        seen = signal;
        return new Promise<never>(() => undefined);
      }),
    ).rejects.toBeInstanceOf(TaskCancelledError);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(seen?.aborted).toBe(true);
  });

  it('applies the timeout to each retry attempt', async () => {
    const spec = {
      policies: { timeouts: { quick: '20ms' }, retries: { twice: { policy: 'constant', duration: '1ms', maxRetries: 2 } } },
      targets: { apps: { orders: { timeout: 'quick', retry: 'twice' } } },
    };
    const policy = buildResiliency([resource(spec)], logger).forApp('orders');
    let attempts = 0;
    const result = await policy.execute(async () => {
      attempts += 1;
      if (attempts < 3) await new Promise<never>(() => undefined);
      return 'third time';
    });
    expect([result, attempts]).toEqual(['third time', 3]);
  });
});

describe('circuit breakers', () => {
  const breakerSpec = (timeout: string) => ({
    policies: { circuitBreakers: { cb: { maxRequests: 1, timeout, trip: 'consecutiveFailures >= 3' } } },
    targets: { apps: { payments: { circuitBreaker: 'cb' } } },
  });

  it('opens after the trip expression holds and then refuses calls without making them', async () => {
    const policy = buildResiliency([resource(breakerSpec('1m'))], logger).forApp('payments');
    const { state, call } = flaky(100);
    for (let i = 0; i < 3; i += 1) await expect(policy.execute(call)).rejects.toThrow('boom');
    await expect(policy.execute(call)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(state.attempts).toBe(3);
  });

  it('lets a trial call through after its timeout and closes again when it succeeds', async () => {
    const policy = buildResiliency([resource(breakerSpec('30ms'))], logger).forApp('payments');
    const { call } = flaky(3);
    for (let i = 0; i < 3; i += 1) await expect(policy.execute(call)).rejects.toThrow('boom');
    await expect(policy.execute(call)).rejects.toBeInstanceOf(BrokenCircuitError);
    await eventually(() => policy.execute(call).then(
      () => true,
      () => false,
    ));
    await expect(policy.execute(call)).resolves.toBe('ok');
  });

  it('does not retry a call the open breaker refused', async () => {
    const spec = {
      policies: {
        circuitBreakers: { cb: { timeout: '1m', trip: 'consecutiveFailures >= 2' } },
        retries: { many: { policy: 'constant', duration: '1ms', maxRetries: 10 } },
      },
      targets: { apps: { payments: { circuitBreaker: 'cb', retry: 'many' } } },
    };
    const { state, call } = flaky(100);
    await expect(buildResiliency([resource(spec)], logger).forApp('payments').execute(call)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(state.attempts).toBe(2);
  });
});

describe('CEL subset', () => {
  const event = { type: 'order.created', data: { total: 150, customer: { tier: 'gold' }, tags: ['rush'] } };
  const evaluate = (source: string) => compileCel(source, ['event']).evaluate({ event });

  it('evaluates the comparisons and connectives routing rules use', () => {
    expect(evaluate('event.type == "order.created"')).toBe(true);
    expect(evaluate("event.type != 'order.created'")).toBe(false);
    expect(evaluate('event.data.total > 100 && event.data.customer.tier == "gold"')).toBe(true);
    expect(evaluate('event.data.total < 100 || event.data["customer"].tier == "silver"')).toBe(false);
    expect(evaluate('!(event.data.total >= 200)')).toBe(true);
    expect(evaluate('has(event.data.customer) && !has(event.data.coupon)')).toBe(true);
    expect(evaluate('"rush" in event.data.tags && size(event.data.tags) == 1')).toBe(true);
    expect(evaluate('event.type.startsWith("order.") ? event.data.total <= 150 : false')).toBe(true);
  });

  it('reports a missing field as an error, unless the other side of && or || decides', () => {
    expect(() => evaluate('event.data.coupon == "x"')).toThrow(CelError);
    expect(evaluate('event.type == "other" && event.data.coupon == "x"')).toBe(false);
    expect(evaluate('event.data.coupon == "x" || event.type == "order.created"')).toBe(true);
    expect(() => evaluate('event.data.total > "100"')).toThrow(/no such overload/);
  });

  it('refuses at compile time what it cannot evaluate', () => {
    expect(() => compileCel('event.data.total * 2 > 10', ['event'])).toThrow(/unsupported character "\*" at position 17/);
    expect(() => compileCel('event.type.matches("^order")', ['event'])).toThrow(/unsupported method matches\(\)/);
    expect(() => compileCel('evnt.type == "x"', ['event'])).toThrow(/unknown variable evnt/);
    expect(() => compileCel('event.type == ', ['event'])).toThrow(/expected a value/);
  });
});
