import type { PaymentMethod } from './load.ts';
import { PAYMENT_METHODS } from './load.ts';

/** A fault, injected once the load is under way. */
export type Fault =
  /** kill -9, then start it again (the launcher's restart waits until it is ready). */
  | { kind: 'kill'; target: string }
  /** SIGSTOP, `ms` frozen, SIGCONT. */
  | { kind: 'pause'; target: string; ms: number }
  | { kind: 'postgres-restart'; mode: 'fast' | 'immediate'; downMs: number }
  | { kind: 'redis-restart'; downMs: number }
  /** Every CloudEvent already in the streams published again, shuffled; once mid-load and once after it. */
  | { kind: 'duplicate-events' }
  /** No injection: the scenario's environment makes the provider slow. */
  | { kind: 'none' };

export interface Scenario {
  name: string;
  description: string;
  fault: Fault;
  /** Extra environment for every app (on top of the suite's). */
  env?: Record<string, string>;
  methods?: readonly PaymentMethod[];
}

export const APPS = ['users', 'inventory', 'orders', 'payments', 'gateway'] as const;

/** Every scenario of the full suite, in order. */
export function allScenarios(pauseMs: number): Scenario[] {
  const processes = APPS.flatMap((app) => [app, `${app}-dapr`]);
  return [
    ...processes.map((target): Scenario => ({ name: `kill-9 ${target}`, description: `kill -9 of ${target} during load, then restart`, fault: { kind: 'kill', target } })),
    ...processes.map((target): Scenario => ({ name: `sigstop ${target}`, description: `SIGSTOP of ${target} for ${pauseMs / 1000} s during load, then SIGCONT`, fault: { kind: 'pause', target, ms: pauseMs } })),
    { name: 'postgres restart', description: 'PostgreSQL fast shutdown (clients cut off) and start during load', fault: { kind: 'postgres-restart', mode: 'fast', downMs: 2_000 } },
    { name: 'postgres crash', description: 'PostgreSQL immediate shutdown (crash, WAL recovery) and start during load', fault: { kind: 'postgres-restart', mode: 'immediate', downMs: 2_000 } },
    { name: 'redis restart', description: 'Redis (pub/sub streams) shut down and started again during load', fault: { kind: 'redis-restart', downMs: 3_000 } },
    { name: 'duplicate+reorder events', description: 'every delivered CloudEvent re-published in a shuffled order, mid-load and after it', fault: { kind: 'duplicate-events' } },
    {
      name: 'slow payment provider',
      description: '3-D Secure confirmations take 8 s, and a third of the cards never answer (provider timeout, breaker)',
      fault: { kind: 'none' },
      env: { SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '8000' },
      methods: ['pm_card_threeDSecureRequired', 'pm_card_timeout', 'pm_card_visa', 'pm_card_threeDSecureRequired', 'pm_card_timeout', 'pm_card_flaky', 'pm_card_chargeDeclined'],
    },
  ];
}

/** The short form (CI and the test command): one fault of each family. */
export const SHORT_SCENARIOS = ['kill-9 orders', 'sigstop payments-dapr', 'postgres restart', 'redis restart', 'duplicate+reorder events'];

export const DEFAULT_METHODS: readonly PaymentMethod[] = ['pm_card_visa', ...PAYMENT_METHODS];
