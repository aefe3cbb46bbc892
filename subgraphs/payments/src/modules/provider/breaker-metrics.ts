import { reportCircuitBreaker, type CircuitBreakerState } from '@agora/service';
import { counter, gauge } from '@agora/telemetry';
import type { BreakerState, GuardedPaymentProvider } from './provider-breaker.ts';

// The payment provider's breaker on /metrics: its state (one series per state, 1 for the current
// one), its transitions, and opossum's rolling-window counts; and its state in /health/details.

const STATES: readonly BreakerState[] = ['closed', 'half_open', 'open'];
const WINDOW_COUNTS = ['fires', 'successes', 'failures', 'timeouts', 'rejects', 'semaphoreRejections'] as const;

const watched = new Map<string, GuardedPaymentProvider>();

gauge({
  name: 'agora_circuit_breaker_state',
  help: 'Circuit breaker state: 1 for the state each breaker is in (closed, half_open, open), 0 for the others',
  labelNames: ['breaker', 'state'],
  collect() {
    this.reset();
    for (const [breaker, provider] of watched) for (const state of STATES) this.set({ breaker, state }, provider.state() === state ? 1 : 0);
  },
});

gauge({
  name: 'agora_circuit_breaker_window_calls',
  help: "Calls in the breaker's rolling window, by result (fires = all calls; rejects = refused while open; semaphoreRejections = refused by the bulkhead)",
  labelNames: ['breaker', 'result'],
  collect() {
    this.reset();
    for (const [breaker, provider] of watched) {
      const stats = provider.stats();
      for (const result of WINDOW_COUNTS) this.set({ breaker, result }, stats[result]);
    }
  },
});

/** The health report names states as the sidecars' breakers do; metric labels keep Prometheus' underscores. */
const REPORTED: Record<BreakerState, CircuitBreakerState> = { closed: 'closed', half_open: 'half-open', open: 'open' };

const transitions = counter({ name: 'agora_circuit_breaker_transitions_total', help: 'Circuit breaker state changes, by the state entered', labelNames: ['breaker', 'state'] });

/** Reports `provider`'s breaker as `breaker`, on /metrics and /health/details, until the process ends (a later one of the same name replaces it). */
export function watchBreaker(breaker: string, provider: GuardedPaymentProvider): void {
  watched.set(breaker, provider);
  reportCircuitBreaker(breaker, () => REPORTED[provider.state()]);
  provider.onStateChange((state) => transitions.inc({ breaker, state }));
}
