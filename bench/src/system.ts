// The whole system for a benchmark, through the launcher as the end-to-end tests start it: the
// machine's PostgreSQL with a database prefix of its own (dropped afterwards), free ports, the
// local OIDC provider, sidecars in this process with in-memory pub/sub.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { passwordGrant } from '@agora/keycloak';
import { launch, readRunFile, type RunningSystem } from '@agora/launcher';
import { dropDatabases, testServerUrl } from '@agora/testing';

export const RUN_FILE = fileURLToPath(new URL('../../dapr/dapr.yaml', import.meta.url));
const DATABASES = ['users', 'inventory', 'orders', 'payments', 'dapr'];

/** Rate limits out of the way: a benchmark is one client sending far more than a person would. */
export const UNLIMITED = { RATE_LIMIT_MAX: '1000000000', RATE_LIMIT_ANONYMOUS_MAX: '1000000000' } as const;

export interface BenchSystem extends RunningSystem {
  prefix: string;
  /** Stops the system and drops its databases. */
  remove(): Promise<void>;
}

/**
 * BENCH_NODE_OPTIONS: Node flags added, for this run, to the NODE_OPTIONS dapr/dapr.yaml gives
 * every app, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles` for a CPU profile of each app.
 */
function appNodeOptions(): Record<string, string> {
  const extra = process.env['BENCH_NODE_OPTIONS'];
  if (!extra) return {};
  const configured = readRunFile(RUN_FILE).apps[0]?.env['NODE_OPTIONS'] ?? '';
  return { NODE_OPTIONS: `${configured} ${extra}`.trim() };
}

export async function launchSystem(extraEnv: Record<string, string> = {}): Promise<BenchSystem> {
  const prefix = `bench_${randomBytes(3).toString('hex')}`;
  const drop = () => dropDatabases(DATABASES.map((name) => `${prefix}_agora_${name}`));
  let system: RunningSystem;
  try {
    system = await launch({
      runFile: RUN_FILE,
      dataDir: '/nonexistent',
      databaseUrl: testServerUrl().href,
      databasePrefix: prefix,
      ports: 'auto',
      extraEnv: { LOG_LEVEL: 'warn', ...UNLIMITED, ...appNodeOptions(), ...extraEnv },
    });
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    ...system,
    prefix,
    async remove() {
      await system.stop();
      await drop();
    },
  };
}

export const accessToken = async (issuer: string, user: 'alice' | 'bob' | 'admin'): Promise<string> =>
  (await passwordGrant({ issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` })).accessToken;

/** A role-less service token of the gateway's anonymous client, as Agora's gateway sends for anonymous callers. */
export async function serviceToken(issuer: string): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'agora-gateway-anonymous', client_secret: 'agora-gateway-anonymous-dev-secret' });
  const response = await fetch(`${issuer}/protocol/openid-connect/token`, { method: 'POST', body });
  const json = (await response.json()) as { access_token?: string; error?: string };
  if (!json.access_token) throw new Error(`client credentials grant failed: HTTP ${response.status} ${json.error ?? ''}`);
  return json.access_token;
}

export interface GraphQLResult {
  status: number;
  text: string;
  body: { data?: unknown; errors?: { message: string }[] };
}

export async function postGraphQL(url: string, query: string, options: { token?: string; variables?: Record<string, unknown> } = {}): Promise<GraphQLResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as GraphQLResult['body'] };
}

export interface TreeMemory {
  processes: { pid: number; name: string; cwd: string | undefined; rssKiB: number; pssKiB: number | undefined }[];
  rssKiB: number;
  /** Proportional set size: shared pages (PostgreSQL's shared buffers, libraries) counted once across the tree. */
  pssKiB: number | undefined;
}

const readOr = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};
const kiB = (text: string | undefined, field: string): number | undefined => {
  const match = text?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return match?.[1] === undefined ? undefined : Number(match[1]);
};

/** VmRSS (and Pss where smaps_rollup is readable) of `root` and every process below it, from /proc. */
export function treeMemory(root: number): TreeMemory {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readOr(`/proc/${entry}/stat`);
    if (stat) parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const tree = [root];
  for (let index = 0; index < tree.length; index += 1) for (const [pid, ppid] of parents) if (ppid === tree[index]) tree.push(pid);
  const processes = tree.flatMap((pid) => {
    const status = readOr(`/proc/${pid}/status`);
    const rssKiB = kiB(status, 'VmRSS');
    if (status === undefined || rssKiB === undefined) return [];
    const cmdline = (readOr(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).slice(0, 3).join(' ');
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined;
    }
    return [{ pid, name: cmdline || (status.match(/^Name:\s+(.*)$/m)?.[1] ?? '?'), cwd, rssKiB, pssKiB: kiB(readOr(`/proc/${pid}/smaps_rollup`), 'Pss') }];
  });
  const pss = processes.map((process) => process.pssKiB);
  return {
    processes,
    rssKiB: processes.reduce((sum, process) => sum + process.rssKiB, 0),
    pssKiB: pss.every((value) => value !== undefined) ? pss.reduce((sum, value) => sum + value, 0) : undefined,
  };
}

/** CPU time (user + system) a process used so far, in ms, from /proc/<pid>/stat; undefined if it is gone. */
export function processCpuMs(pid: number): number | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100;
}

/** Each launched app's process (by its id in the run file), found by its working directory among this process's children. */
export function appPids(): Map<string, number> {
  const pids = new Map<string, number>();
  for (const app of readRunFile(RUN_FILE).apps) {
    const pid = appPid(process.pid, app.dir);
    if (pid !== undefined) pids.set(app.id, pid);
  }
  return pids;
}

/** CPU used by one part of the system, ms. */
export interface CpuShare {
  name: string;
  ms: number;
}

/**
 * CPU time used so far by each part of the system, ms (processes gone are left out): the given
 * processes, this process (the launcher's sidecars) as `self`, and each PostgreSQL backend serving
 * the system's databases now. `database` is a connection to one of them (not counted).
 */
export async function cpuSample(system: BenchSystem, pids: ReadonlyMap<string, number>, database: PgClient, self: string): Promise<Map<string, number>> {
  const sample = new Map<string, number>();
  const record = (name: string, pid: number) => {
    const ms = processCpuMs(pid);
    if (ms !== undefined) sample.set(name, ms);
  };
  for (const [name, pid] of pids) record(name, pid);
  const usage = process.cpuUsage();
  sample.set(self, (usage.user + usage.system) / 1_000);
  const { rows } = await database.query<{ pid: number }>('select pid from pg_stat_activity where datname like $1 and pid <> pg_backend_pid()', [`${system.prefix}%`]);
  for (const { pid } of rows) record(`postgres ${pid}`, pid);
  return sample;
}

/** CPU per part between two samples; PostgreSQL backends summed as one part (those present in both). */
export function cpuBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): CpuShare[] {
  const shares = new Map<string, number>();
  for (const [name, end] of after) {
    const begin = before.get(name);
    if (begin === undefined) continue;
    const key = name.startsWith('postgres ') ? 'PostgreSQL backends' : name;
    shares.set(key, (shares.get(key) ?? 0) + end - begin);
  }
  return [...shares].map(([name, ms]) => ({ name, ms }));
}

/** The launched app whose working directory is `dir` (e.g. the gateway), among the processes below `root`. */
export function appPid(root: number, dir: string): number | undefined {
  return treeMemory(root).processes.find((entry) => entry.pid !== root && entry.cwd === dir)?.pid;
}

export interface PgClient {
  connect(): Promise<void>;
  query<T>(text: string, values?: unknown[]): Promise<{ rows: T[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}
// pg comes from @agora/testing (the same 8.23.0 the services use), until bench/package.json lists it.
const fromTesting = createRequire(fileURLToPath(new URL('../../packages/testing/package.json', import.meta.url)));

/** A connected PostgreSQL client for one of the system's databases. */
export async function connectDatabase(url: string): Promise<PgClient> {
  const pgModule = (await import(pathToFileURL(fromTesting.resolve('pg')).href)) as { default: { Client: new (config: { connectionString: string }) => PgClient } };
  const client = new pgModule.default.Client({ connectionString: url });
  // A server restart (another suite's chaos) ends the connection: the next query fails with the reason, not the process.
  client.on('error', (error) => process.stderr.write(`benchmark database connection lost: ${error.message}\n`));
  await client.connect();
  return client;
}
