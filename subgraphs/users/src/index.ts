import { runMain, startSubgraph } from '@agora/service';
import { loadEnv } from './env.ts';
import { usersSubgraph } from './subgraph.ts';

await runMain('users', () => startSubgraph(usersSubgraph, loadEnv(process.env)));
