import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { ordersSubgraph } from './subgraph.ts';

await runMain('orders', () => startSubgraph(ordersSubgraph, loadEnv(process.env)));
