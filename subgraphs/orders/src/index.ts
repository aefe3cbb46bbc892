import './telemetry.ts';
import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { createOrdersSubgraph } from './subgraph.ts';

const env = loadEnv(process.env);
await runMain('orders', () => startSubgraph(createOrdersSubgraph(env), env));
