import { CircuitState, type IBreaker } from 'cockatiel';
import type { CelProgram } from './cel.ts';

// daprd's circuit breakers (sony/gobreaker) open when the CEL `trip` expression, evaluated over the
// counts of the current closed-state period, becomes true. This plugs that rule into cockatiel.

export const TRIP_VARIABLES = ['requests', 'totalSuccesses', 'totalFailures', 'consecutiveSuccesses', 'consecutiveFailures'] as const;

type Counts = Record<(typeof TRIP_VARIABLES)[number], number>;

const zeroCounts = (): Counts => ({ requests: 0, totalSuccesses: 0, totalFailures: 0, consecutiveSuccesses: 0, consecutiveFailures: 0 });

export class TripBreaker implements IBreaker {
  state: unknown;
  readonly #trip: CelProgram;
  /** gobreaker's `interval`: how often the closed state's counts start over (0 = never). */
  readonly #intervalMs: number;
  #counts = zeroCounts();
  #periodStart = Date.now();

  constructor(trip: CelProgram, intervalMs: number) {
    this.#trip = trip;
    this.#intervalMs = intervalMs;
  }

  success(state: CircuitState): void {
    if (state !== CircuitState.Closed) {
      this.#reset();
      return;
    }
    const counts = this.#current();
    counts.requests += 1;
    counts.totalSuccesses += 1;
    counts.consecutiveSuccesses += 1;
    counts.consecutiveFailures = 0;
  }

  failure(state: CircuitState): boolean {
    if (state !== CircuitState.Closed) {
      this.#reset();
      return true;
    }
    const counts = this.#current();
    counts.requests += 1;
    counts.totalFailures += 1;
    counts.consecutiveFailures += 1;
    counts.consecutiveSuccesses = 0;
    if (!this.#tripped(counts)) return false;
    this.#reset();
    return true;
  }

  #tripped(counts: Counts): boolean {
    try {
      return this.#trip.evaluate(counts) === true;
    } catch {
      // As daprd: an expression that cannot be evaluated never trips the breaker.
      return false;
    }
  }

  #current(): Counts {
    if (this.#intervalMs > 0 && Date.now() - this.#periodStart >= this.#intervalMs) this.#reset();
    return this.#counts;
  }

  #reset(): void {
    this.#counts = zeroCounts();
    this.#periodStart = Date.now();
  }
}
