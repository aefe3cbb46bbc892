import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppSpec } from './run-file.ts';

export interface AppProcess {
  id: string;
  child: ChildProcess;
  /** Resolves once the app's health path answers 200; rejects with its last output if it dies first. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

const TAIL_LINES = 30;
const STOP_GRACE_MS = 10_000;

export function startApp(
  app: AppSpec,
  env: Record<string, string>,
  options: {
    port: number;
    readyTimeoutMs: number;
    onLine: (line: string) => void;
    /** Polls the health path only once this settles: for an app whose readiness asks other apps (the gateway asks the subgraphs). */
    pollAfter?: Promise<unknown>;
  },
): AppProcess {
  const [command, ...args] = app.command;
  // The launcher's own Node runs the apps, so they get the same runtime as it has.
  const child = spawn(command === 'node' ? process.execPath : command, args, {
    cwd: app.dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine(line);
    });
  }
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const spawnFailed = new Promise<never>((_resolve, reject) => child.once('error', (error) => reject(new Error(`${app.id}: could not run ${command}: ${error.message}`))));

  const ready = (async () => {
    const deadline = Date.now() + options.readyTimeoutMs;
    const healthUrl = `http://127.0.0.1:${options.port}${app.healthPath}`;
    await Promise.race([options.pollAfter, exited]);
    while (child.exitCode === null && child.signalCode === null) {
      if (Date.now() > deadline) throw new Error(`${app.id} was not ready within ${options.readyTimeoutMs / 1000} s (${healthUrl})\n${tail.join('\n')}`);
      const response = await Promise.race([fetch(healthUrl, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined), spawnFailed]);
      if (response?.ok) return;
      await sleep(100);
    }
    const code = await exited;
    throw new Error(`${app.id} exited with code ${code} before it was ready:\n${tail.join('\n')}`);
  })();
  ready.catch(() => undefined);

  return {
    id: app.id,
    child,
    ready,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
