import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort, startChild, waitFor, type Child } from '@agora/testing';

// A private PostgreSQL cluster for one scenario: restarting the machine's shared server would
// break everybody else's work, and the launcher's embedded server cannot be restarted from outside.
// It uses the machine's PostgreSQL binaries (CHAOS_PG_BINDIR, else initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin). fsync is off: a process crash keeps the OS page cache, so it loses nothing.

export interface PostgresCluster {
  /** Server URL (database `postgres`); the launcher replaces the database per service. */
  url: URL;
  /**
   * Stops the server (`fast`: SIGINT, clients disconnected and transactions rolled back;
   * `immediate`: SIGQUIT, a crash followed by WAL recovery), keeps it down for `downMs`, starts it again.
   */
  restart(mode: 'fast' | 'immediate', downMs: number): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string {
  const configured = process.env['CHAOS_PG_BINDIR'];
  if (configured) return configured;
  const onPath = (process.env['PATH'] ?? '').split(delimiter).find((dir) => dir !== '' && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
  if (onPath) return onPath;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : [];
  const newest = versions[0];
  if (newest === undefined) throw new Error('no PostgreSQL binaries found: install PostgreSQL or set CHAOS_PG_BINDIR to the folder holding initdb and postgres');
  return join(root, newest, 'bin');
}

/** PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!entry) throw new Error('running as root needs a `postgres` user to own the private PostgreSQL cluster');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  const owner = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'agora-chaos-pg-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const url = new URL(`postgres://postgres@127.0.0.1:${port}/postgres`);
  try {
    if (owner) chownSync(dir, owner.uid, owner.gid);
    execFileSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { stdio: 'ignore', ...owner, cwd: dir });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let child: Child | undefined;
  const start = async () => {
    const log = openSync(join(dir, 'postgres.log'), 'a');
    child = startChild(
      join(bin, 'postgres'),
      ['-D', dataDir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=400'],
      { stdio: ['ignore', log, log], ...owner, cwd: dir },
    );
    closeSync(log);
    await waitFor(`the private PostgreSQL did not accept connections on port ${port} (log: ${join(dir, 'postgres.log')})`, 30_000, async () => {
      if (!child?.isRunning()) throw new Error('postgres exited');
      const client = new pg.Client({ connectionString: url.href });
      try {
        await client.connect();
        await client.query('select 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    });
  };

  try {
    await start();
  } catch (error) {
    await child?.stop('SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    async restart(mode, downMs) {
      await child?.stop(mode === 'fast' ? 'SIGINT' : 'SIGQUIT', 20_000);
      await sleep(downMs);
      await start();
    },
    async stop() {
      await child?.stop('SIGINT', 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
