import './telemetry.ts';
import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { createUsersSubgraph } from './subgraph.ts';

await runMain('users', () => {
  const env = loadEnv(process.env);
  return startSubgraph(createUsersSubgraph({ appApiToken: env.APP_API_TOKEN, deliveryRetryIntervalMs: env.NOTIFICATION_RETRY_INTERVAL_MS }), env);
});
