import './telemetry.ts';
import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { createInventorySubgraph } from './subgraph.ts';

await runMain('inventory', () => {
  const env = loadEnv(process.env);
  return startSubgraph(createInventorySubgraph(env), env);
});
