import './telemetry.ts';
import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { createPaymentsSubgraph } from './subgraph.ts';

await runMain('payments', () => {
  const env = loadEnv(process.env);
  return startSubgraph(createPaymentsSubgraph(env), env);
});
