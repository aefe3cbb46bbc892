import { z } from 'zod';
import { envField, parseEnv, subgraphEnvSchema } from '@agora/service';

const schema = subgraphEnvSchema.extend({
  PORT: envField.port(4001),
  /** daprd's app API token: when set, Dapr's event deliveries must carry it in `dapr-api-token`. */
  APP_API_TOKEN: z.string().min(1).optional(),
  /** How often failed or stalled notification emails are tried again. */
  NOTIFICATION_RETRY_INTERVAL_MS: z.coerce.number({ message: 'expected milliseconds' }).int().min(100).default(30_000),
});

export type UsersEnv = z.infer<typeof schema>;

export const loadEnv = (source: NodeJS.ProcessEnv): UsersEnv => parseEnv(schema, source);
