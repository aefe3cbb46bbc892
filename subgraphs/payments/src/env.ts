import { z } from 'zod';
import { ConfigError, envField, parseEnv, subgraphEnvSchema } from '@agora/service';

const DEV_WEBHOOK_SECRET = 'whsec_agora-dev-webhook-secret';

const millisecondsField = z.coerce.number({ message: 'expected milliseconds' }).int().min(1);
const milliseconds = (fallback: number) => millisecondsField.default(fallback);

/** What payments reads beyond every subgraph's variables; the defaults suit development and tests. */
export const paymentsSettingsSchema = z.object({
  /** The sidecar's HTTP port (set by `dapr run` and the launcher); the outbox relay publishes through it. */
  DAPR_HTTP_PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535).optional(),
  /** Shared secret of the provider's webhook signatures (HMAC-SHA256); production must set its own. */
  PAYMENT_WEBHOOK_SECRET: z.string().min(16, { message: 'expected at least 16 characters' }).default(DEV_WEBHOOK_SECRET),
  /** How old (or how far in the future) a webhook's signed timestamp may be. */
  PAYMENT_WEBHOOK_TOLERANCE_SECONDS: envField.count(300),
  /** A provider call that takes longer fails (and is aborted) and counts against the breaker. */
  PAYMENT_PROVIDER_TIMEOUT_MS: milliseconds(3_000),
  /** Percentage of failed provider calls in the rolling window that opens the breaker. */
  PAYMENT_BREAKER_ERROR_THRESHOLD_PERCENTAGE: z.coerce.number({ message: 'expected a percentage' }).min(1).max(100).default(50),
  /** How long an open breaker refuses calls before letting one trial call through (half-open). */
  PAYMENT_BREAKER_RESET_TIMEOUT_MS: milliseconds(10_000),
  /** Calls in the rolling window before the breaker may open at all. */
  PAYMENT_BREAKER_VOLUME_THRESHOLD: envField.count(5),
  /** The breaker's statistical window. */
  PAYMENT_BREAKER_ROLLING_WINDOW_MS: milliseconds(10_000),
  /** Bulkhead: payment provider calls in flight at most; more are refused at once with SERVICE_UNAVAILABLE (the saga retries). */
  PAYMENT_PROVIDER_MAX_CONCURRENT_CALLS: z.coerce.number({ message: 'expected a whole number' }).int().min(1).default(20),
  /**
   * After a provider call failed (timeout, error), the same request's retries are refused at once
   * (SERVICE_UNAVAILABLE) for this long; by default the breaker's window, so one request counts once in it.
   */
  PAYMENT_PROVIDER_RETRY_AFTER_MS: millisecondsField.optional(),
  /** How long the simulated provider waits before confirming a payment that needed confirmation (3-D Secure). */
  SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: envField.count(1_000),
  /** What that confirmation says: `succeed`, `fail` (the customer failed the challenge) or `manual` (only on request). */
  SIMULATED_PROVIDER_CONFIRMATION: z.enum(['succeed', 'fail', 'manual'], { message: 'expected succeed, fail or manual' }).default('succeed'),
});

export type PaymentsSettings = z.infer<typeof paymentsSettingsSchema>;

const schema = subgraphEnvSchema.extend({ PORT: envField.port(4004) }).extend(paymentsSettingsSchema.shape);

export type PaymentsEnv = z.infer<typeof schema>;

export function loadEnv(source: NodeJS.ProcessEnv): PaymentsEnv {
  const env = parseEnv(schema, source);
  if (env.NODE_ENV === 'production' && env.PAYMENT_WEBHOOK_SECRET === DEV_WEBHOOK_SECRET) {
    throw new ConfigError('invalid configuration:\n  PAYMENT_WEBHOOK_SECRET: production needs its own webhook secret, not the development default');
  }
  return env;
}

/** The settings with every default, overridden by `overrides` (tests). */
export const paymentsSettings = (overrides: Partial<z.input<typeof paymentsSettingsSchema>> = {}): PaymentsSettings => paymentsSettingsSchema.parse(overrides);
