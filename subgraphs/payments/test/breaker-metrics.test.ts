import type CircuitBreaker from 'opossum';
import { describe, expect, it } from 'vitest';
import { scrape } from '@agora/telemetry';
import { watchBreaker } from '../src/modules/provider/breaker-metrics.ts';
import type { BreakerState, GuardedPaymentProvider } from '../src/modules/provider/provider-breaker.ts';

/** A provider whose breaker is where the test puts it. */
function fakeProvider() {
  let state: BreakerState = 'closed';
  const listeners: ((state: BreakerState) => void)[] = [];
  const stats = { fires: 7, successes: 4, failures: 3, timeouts: 2, rejects: 1, semaphoreRejections: 5 } as CircuitBreaker.Stats;
  const provider = {
    state: () => state,
    stats: () => stats,
    onStateChange: (listener: (next: BreakerState) => void) => void listeners.push(listener),
  } as Partial<GuardedPaymentProvider> as GuardedPaymentProvider;
  const move = (next: BreakerState) => {
    state = next;
    for (const listener of listeners) listener(next);
  };
  return { provider, move };
}

async function sample(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const { body } = await scrape();
  const line = body.split('\n').find((candidate) => candidate.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => candidate.includes(`${key}="${value}"`)));
  return line === undefined ? undefined : Number(line.split('} ')[1]?.split(' ')[0]);
}

describe('breaker metrics', () => {
  it('reports the state the breaker is in, its transitions and its rolling-window counts', async () => {
    const { provider, move } = fakeProvider();
    watchBreaker('payment-provider', provider);
    const stateOf = async (): Promise<Record<string, number | undefined>> =>
      Object.fromEntries(await Promise.all((['closed', 'half_open', 'open'] as const).map(async (state) => [state, await sample('agora_circuit_breaker_state', { breaker: 'payment-provider', state })] as const)));
    expect(await stateOf()).toEqual({ closed: 1, half_open: 0, open: 0 });
    move('open');
    expect(await stateOf()).toEqual({ closed: 0, half_open: 0, open: 1 });
    move('half_open');
    move('closed');
    expect(await stateOf()).toEqual({ closed: 1, half_open: 0, open: 0 });
    expect(await sample('agora_circuit_breaker_transitions_total', { breaker: 'payment-provider', state: 'open' })).toBe(1);
    expect(await sample('agora_circuit_breaker_transitions_total', { breaker: 'payment-provider', state: 'closed' })).toBe(1);
    expect(await sample('agora_circuit_breaker_window_calls', { breaker: 'payment-provider', result: 'timeouts' })).toBe(2);
    expect(await sample('agora_circuit_breaker_window_calls', { breaker: 'payment-provider', result: 'rejects' })).toBe(1);
    expect(await sample('agora_circuit_breaker_window_calls', { breaker: 'payment-provider', result: 'semaphoreRejections' })).toBe(5);
  });
});
