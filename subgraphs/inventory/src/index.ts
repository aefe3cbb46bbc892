import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { inventorySubgraph } from './subgraph.ts';

await runMain('inventory', () => startSubgraph(inventorySubgraph, loadEnv(process.env)));
