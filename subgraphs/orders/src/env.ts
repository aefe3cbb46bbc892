import { z } from 'zod';
import { envField, parseEnv, subgraphEnvSchema } from '@agora/service';

const optionalPort = z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535).optional();

const schema = subgraphEnvSchema.extend({
  PORT: envField.port(4003),
  /** The sidecar's HTTP and gRPC ports (set by `dapr run` and the launcher). Without them, orders are read-only. */
  DAPR_HTTP_PORT: optionalPort,
  DAPR_GRPC_PORT: optionalPort,
  /** The Dapr state store holding carts and idempotency records. */
  STATE_STORE_NAME: z.string().min(1).default('statestore'),
  /** The confidential client whose service token the saga sends to inventory and payments (docs/adr/0007). */
  SERVICE_CLIENT_ID: z.string().min(1).default('agora-service'),
  SERVICE_CLIENT_SECRET: z.string().min(1).default('agora-service-dev-secret'),
  /** How long placeOrder remembers an idempotency key. */
  IDEMPOTENCY_TTL_SECONDS: envField.count(86_400),
  /** How long the saga waits for an asynchronous payment confirmation before cancelling. */
  PAYMENT_CONFIRMATION_TIMEOUT_SECONDS: envField.count(30),
  /** How long one saga step may take (all its retries) before the saga compensates. */
  SAGA_STEP_TIMEOUT_SECONDS: envField.count(30),
  /** Every this many seconds, PENDING orders at least this old without a saga (placeOrder interrupted) get theirs started. */
  SAGA_RECOVERY_INTERVAL_SECONDS: z.coerce.number({ message: 'expected seconds ≥ 1' }).int().min(1).default(15),
  /**
   * Bulkhead: saga calls in flight to one participant (inventory, payments) at most, and calls that
   * may wait for one of them; a call beyond both fails at once and is retried on a durable timer.
   * The workflow worker runs 32 work items at a time: a hung participant may hold at most the sum.
   */
  PARTICIPANT_MAX_CONCURRENT_CALLS: z.coerce.number({ message: 'expected a whole number ≥ 1' }).int().min(1).default(8),
  PARTICIPANT_MAX_QUEUED_CALLS: z.coerce.number({ message: 'expected a whole number ≥ 0' }).int().min(0).default(8),
});

export type OrdersEnv = z.infer<typeof schema>;

export const loadEnv = (source: NodeJS.ProcessEnv): OrdersEnv => parseEnv(schema, source);
