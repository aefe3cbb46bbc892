import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, tempDir } from '@agora/testing';

// `npm start`'s launcher (src/main.ts) on the embedded default, stopped as a user stops it: on
// free ports, with its own data directory, in a process group of its own.

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const dataDir = tempDir('agora-main-');
// As root, PostgreSQL runs as the postgres user, who must be able to enter the folder (mkdtemp makes it 0700).
chmodSync(dataDir, 0o755);
let running: ChildProcess | undefined;

const postmasterPid = join(dataDir, 'postgres', 'postmaster.pid');

afterEach(() => {
  // A launcher that did not stop takes its whole group with it, and PostgreSQL (in a session of its own).
  if (running?.pid !== undefined && running.exitCode === null) process.kill(-running.pid, 'SIGKILL');
  running = undefined;
  if (existsSync(postmasterPid)) {
    try {
      process.kill(Number(readFileSync(postmasterPid, 'utf8').split('\n')[0]), 'SIGKILL');
    } catch {
      // Already gone; its stale pid file does not stop the next start.
    }
  }
});

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

async function start(): Promise<Started> {
  // The embedded default: none of the variables that would point it elsewhere.
  const outside = new Set(['DATABASE_URL', 'OIDC_ISSUER_URL', 'REDIS_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_EXPORTER']);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !outside.has(name))),
    AGORA_PORTS: 'auto',
    AGORA_DATA_DIR: dataDir,
    OIDC_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  };
  const child = spawn(process.execPath, [main], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running = child;
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  while (!text.includes('Press Ctrl+C to stop.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the launcher did not get ready:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, output: () => text, exited };
}

async function stopped({ child, output, exited }: Started): Promise<string> {
  const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000))]);
  expect(code, output()).toBe(0);
  expect(output()).toContain('Agora: stopped');
  // Nothing of the group is left (apps, sidecars' helpers), nor PostgreSQL in its own session: a
  // server that shut down removes its pid file.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(() => process.kill(-(child.pid ?? 0), 0)).toThrow(/ESRCH/);
  expect(existsSync(postmasterPid)).toBe(false);
  // PostgreSQL went last: no service lost its connections to a shutdown under it.
  expect(output()).not.toContain('terminating connection due to administrator command');
  return output();
}

describe('npm start (the launcher) stopping', () => {
  it('on SIGINT to the launcher alone, stops the apps and sidecars before PostgreSQL and exits 0', async () => {
    const system = await start();
    // The first start on a new data directory logs no database looked for before it exists, no
    // app called before it listens (the gateway's readiness asks the subgraphs'), and no workflow
    // worker sent away from its sidecar (orders' first work item stream is kept).
    expect(system.output()).not.toMatch(/FATAL|service invocation failed|Stream abruptly closed/);
    // Every line of a message of several lines is an app's (the gateway logs its schema so).
    expect(system.output()).not.toMatch(/^\t/m);
    process.kill(system.child.pid ?? 0, 'SIGINT');
    await stopped(system);
  }, 200_000);

  it('on Ctrl+C in a terminal (SIGINT to the whole process group), stops PostgreSQL last too and exits 0', async () => {
    const system = await start();
    process.kill(-(system.child.pid ?? 0), 'SIGINT');
    await stopped(system);
  }, 200_000);
});
