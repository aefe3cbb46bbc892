import { z } from 'zod';
import { envField, parseEnv, subgraphEnvSchema } from '@agora/service';

const schema = subgraphEnvSchema.extend({
  PORT: envField.port(4002),
  /** The sidecar's HTTP port (set by `dapr run` and the launcher); the outbox relay publishes through it. */
  DAPR_HTTP_PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535).optional(),
  /** A reserve that leaves fewer units available than this (and had at least this many) emits agora.stock.low.v1. */
  LOW_STOCK_THRESHOLD: envField.count(5),
  /** How often expired reservations are released. */
  RESERVATION_SWEEP_INTERVAL_MS: z.coerce.number({ message: 'expected milliseconds' }).int().min(10).default(5_000),
});

export type InventoryEnv = z.infer<typeof schema>;

export const loadEnv = (source: NodeJS.ProcessEnv): InventoryEnv => parseEnv(schema, source);
