import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { paymentsSubgraph } from './subgraph.ts';

await runMain('payments', () => startSubgraph(paymentsSubgraph, loadEnv(process.env)));
