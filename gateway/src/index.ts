import './telemetry.ts';
import { runMain } from '@agora/service';
import { loadEnv } from './env.ts';
import { startGateway } from './server.ts';

await runMain('gateway', () => startGateway(loadEnv(process.env)));
