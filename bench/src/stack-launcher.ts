// The launcher side of the stack benchmark, in a process of its own so that its process tree is
// the whole system and nothing else: launch() on the embedded default (embedded PostgreSQL in the
// given data directory, local OIDC provider, in-process sidecars, in-memory pub/sub), as
// `npm start` does but on free ports. Answers a StackReady over IPC, stops on 'stop'.
import { launch, type LaunchEvent } from '@agora/launcher';
import { RUN_FILE } from './system.ts';

export interface StackReady {
  /** launch() called → resolved, ms. */
  launchMs: number;
  /** Process start → launch() resolved, ms (Node start-up and module loading included). */
  processMs: number;
  steps: { name: string; ms: number }[];
}

async function start(dataDir: string): Promise<void> {
  const steps: StackReady['steps'] = [];
  const onEvent = (event: LaunchEvent) => {
    if (event.type === 'step' && event.status === 'ready') steps.push({ name: event.name, ms: event.ms ?? 0 });
  };
  const began = performance.now();
  const system = await launch({ runFile: RUN_FILE, dataDir, ports: 'auto', onEvent });
  const ready = performance.now();
  process.send?.({ launchMs: ready - began, processMs: ready, steps } satisfies StackReady);
  process.once('message', () => {
    system.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

process.once('message', (dataDir: string) => {
  start(dataDir).catch((error: unknown) => {
    process.stderr.write(`stack launch failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
});
