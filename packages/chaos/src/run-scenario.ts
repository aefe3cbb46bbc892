import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { passwordGrant } from '@agora/keycloak';
import { launch, type RunningSystem } from '@agora/launcher';
import { startRedisServer, waitFor, type RedisServer } from '@agora/testing';
import { databasesOf, type Databases } from './databases.ts';
import { connectRedis, republishShuffled } from './event-streams.ts';
import { startPostgresCluster, type PostgresCluster } from './infra/postgres-cluster.ts';
import { captureBaseline, checkInvariants, orderOutcomes, settle, type InvariantResults, type Settled } from './invariants.ts';
import { startLoad, type LoadResult } from './load.ts';
import { DEFAULT_METHODS, type Fault, type Scenario } from './scenarios.ts';

const RUN_FILE = fileURLToPath(new URL('../../../dapr/dapr.yaml', import.meta.url));

export interface RunSettings {
  orders: number;
  ratePerSecond: number;
  /** Share of the orders acknowledged before the fault is injected. */
  faultAfter: number;
  settleTimeoutMs: number;
  /** How long a failing placement is retried (same idempotency key). */
  retryForMs: number;
  /** Where each scenario's system log goes. */
  logDir: string;
  /** Progress lines (scenario steps). */
  log: (line: string) => void;
}

export interface ScenarioReport {
  scenario: Scenario;
  /** Set when the scenario could not run to its checks (start-up failed, the fault threw). */
  error?: string;
  invariants?: InvariantResults;
  load?: LoadResult;
  settled?: Settled;
  faultNote?: string;
  /** How the orders ended (status, payment method, reason) → count. */
  outcomes?: Record<string, number>;
  durationMs: number;
  logFile: string;
}

/** The app settings every scenario runs with: quiet logs, no rate limit, short saga step timeouts. */
const SUITE_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_MAX: '100000',
  SAGA_STEP_TIMEOUT_SECONDS: '20',
  SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '500',
  // pm_card_timeout never answers: a shorter wait keeps those sagas (and the suite) short.
  PAYMENT_PROVIDER_TIMEOUT_MS: '1500',
};

/** How a scenario whose fault is part of its system's setup (kind `none`) is described in the log and the summary. */
const FAULT_IN_SETUP = 'the fault is in the setup, there from the start';

async function inject(fault: Fault, infra: Pick<Environment, 'system' | 'postgres' | 'redis'>, redisUrl: string): Promise<string> {
  switch (fault.kind) {
    case 'kill':
      await infra.system.kill(fault.target, 'SIGKILL');
      await sleep(500);
      await infra.system.restart(fault.target);
      return `${fault.target} killed and restarted`;
    case 'pause':
      await infra.system.kill(fault.target, 'SIGSTOP');
      try {
        await sleep(fault.ms);
      } finally {
        await infra.system.kill(fault.target, 'SIGCONT');
      }
      return `${fault.target} paused ${fault.ms} ms`;
    case 'postgres-restart':
      await infra.postgres.restart(fault.mode, fault.downMs);
      return `postgres ${fault.mode} restart, down ${fault.downMs} ms`;
    case 'redis-restart':
      await infra.redis.restart(fault.downMs);
      return `redis down ${fault.downMs} ms`;
    case 'duplicate-events': {
      const redis = connectRedis(redisUrl);
      try {
        return `${await republishShuffled(redis)} events re-published mid-load`;
      } finally {
        redis.disconnect();
      }
    }
    case 'none':
      return `${FAULT_IN_SETUP}; nothing injected mid-load`;
  }
}

export interface Environment {
  system: RunningSystem;
  postgres: PostgresCluster;
  redis: RedisServer;
  db: Databases;
  /** A connection to the pub/sub Redis (backlog, re-publication). */
  events: Redis;
  tokens: string[];
  /** Appends a line to the system log of the scenario running now. */
  note: (line: string) => void;
  setLogFile(file: string): void;
  stop(): Promise<void>;
}

/**
 * A fresh system on its own PostgreSQL cluster and Redis; a failure stops whatever had started
 * and is tried once more (start-up races on a busy machine are not what the suite tests).
 */
export async function startEnvironment(name: string, env: Record<string, string> | undefined, logFile: string): Promise<Environment> {
  try {
    return await startEnvironmentOnce(name, env, logFile);
  } catch {
    appendFileSync(logFile, `${new Date().toISOString()} starting once more\n`);
    return startEnvironmentOnce(name, env, logFile);
  }
}

async function startEnvironmentOnce(name: string, env: Record<string, string> | undefined, logFile: string): Promise<Environment> {
  let currentLog = logFile;
  const note = (line: string) => appendFileSync(currentLog, `${new Date().toISOString()} ${line}\n`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((error: unknown) => note(`cleanup failed: ${String(error)}`));
  };
  const prefix = `chaos_${name.replace(/[^a-z0-9]+/gi, '_').toLowerCase().slice(0, 24)}_${randomBytes(3).toString('hex')}`;
  try {
    const postgres = await startPostgresCluster();
    cleanups.push(() => postgres.stop());
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-chaos-data-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const started = Date.now();
    const system = await launch({
      runFile: RUN_FILE,
      dataDir,
      databaseUrl: postgres.url.href,
      databasePrefix: prefix,
      ports: 'auto',
      redisUrl: redis.url,
      sidecars: 'processes',
      readyTimeoutMs: 120_000,
      extraEnv: { ...SUITE_ENV, ...env },
      onEvent: (event) => note(event.type === 'log' ? `[${event.app}] ${event.line}` : `step ${event.name} ${event.status} ${event.detail ?? ''}`),
    });
    cleanups.push(() => system.stop());
    note(`system ready in ${Date.now() - started} ms`);
    const events = connectRedis(redis.url);
    cleanups.push(async () => events.disconnect());
    const tokens = await Promise.all(
      (['alice', 'bob'] as const).map(async (user) => (await passwordGrant({ issuer: system.issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` })).accessToken),
    );
    return {
      system,
      postgres,
      redis,
      db: databasesOf(postgres.url, prefix),
      events,
      tokens,
      note,
      setLogFile: (file) => {
        currentLog = file;
      },
      stop,
    };
  } catch (error) {
    note(`start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await stop();
    throw error;
  }
}

/** PostgreSQL's view of every session (a stuck pool shows as sessions idle in a transaction, or none at all). */
async function noteSessions(db: Databases, note: (line: string) => void): Promise<void> {
  try {
    const rows = await db.query<Record<string, unknown>>(
      'dapr',
      `select datname, state, wait_event_type, wait_event, extract(epoch from now() - xact_start)::int as xact_seconds, left(query, 100) as query
         from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() order by datname, state`,
    );
    note(`${rows.length} PostgreSQL sessions at the deadline:`);
    for (const row of rows) note(`  ${JSON.stringify(row)}`);
  } catch (error) {
    note(`PostgreSQL sessions not read: ${String(error)}`);
  }
}

export const logFileFor = (settings: RunSettings, scenario: Scenario): string => {
  mkdirSync(settings.logDir, { recursive: true });
  return join(settings.logDir, `${scenario.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.log`);
};

/**
 * On a running environment: notes what exists, places the orders, injects the fault once a share
 * of them is acknowledged, waits for everything to settle (bounded) and checks the invariants.
 */
export async function runOnEnvironment(scenario: Scenario, environment: Environment, settings: RunSettings): Promise<ScenarioReport> {
  const started = Date.now();
  const logFile = logFileFor(settings, scenario);
  environment.setLogFile(logFile);
  const { system, db, events, tokens, note } = environment;
  const report: ScenarioReport = { scenario, durationMs: 0, logFile };
  try {
    const baseline = await captureBaseline(db);
    settings.log(`${scenario.name}: placing ${settings.orders} orders at ${settings.ratePerSecond}/s`);
    const load = startLoad({ gatewayUrl: system.gatewayUrl, tokens, orders: settings.orders, ratePerSecond: settings.ratePerSecond, methods: scenario.methods ?? DEFAULT_METHODS, retryForMs: settings.retryForMs, cancelEvery: 5 });
    const threshold = Math.max(1, Math.floor(settings.orders * settings.faultAfter));
    await Promise.race([waitFor('the load did not reach the fault threshold', 120_000, async () => load.progress() >= threshold), load.done]);
    note(`fault ${JSON.stringify(scenario.fault)} at ${load.progress()} acknowledged`);
    settings.log(scenario.fault.kind === 'none' ? `${scenario.name}: ${load.progress()}/${settings.orders} orders placed (${FAULT_IN_SETUP})` : `${scenario.name}: injecting the fault at ${load.progress()}/${settings.orders} orders`);
    const faultStarted = Date.now();
    report.faultNote = await inject(scenario.fault, environment, environment.redis.url);
    note(`fault done in ${Date.now() - faultStarted} ms: ${report.faultNote}`);
    report.load = await load.done;
    if (scenario.fault.kind === 'duplicate-events') {
      await sleep(2_000);
      report.faultNote += `, ${await republishShuffled(events)} after it`;
    }
    note(`load done: ${report.load.placed.length} placed, ${report.load.unacknowledged.length} unacknowledged, ${report.load.retries} retries, ${report.load.cancels.accepted}/${report.load.cancels.requested} cancellations accepted`);
    for (const failure of report.load.unacknowledged) note(`unacknowledged placement ${failure.key}: ${failure.error}`);
    for (const [error, count] of Object.entries(report.load.errors)) note(`placement attempts failed ${count}×: ${error}`);
    if (report.load.retries > 0) note(`failed placement attempts by extensions.code: ${JSON.stringify(report.load.codes)}`);

    settings.log(`${scenario.name}: waiting for every saga and event to settle`);
    report.settled = await settle(db, events, baseline, settings.settleTimeoutMs);
    note(`settled ${JSON.stringify(report.settled)}`);
    if (!report.settled.settled) await noteSessions(db, note);
    report.invariants = await checkInvariants(db, events, baseline, report.load.placed);
    report.outcomes = await orderOutcomes(db, baseline);
  } catch (error) {
    report.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    note(`error: ${report.error}`);
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** A scenario on its own fresh system (PostgreSQL, Redis, apps, sidecars), stopped afterwards even on failure. */
export async function runScenario(scenario: Scenario, settings: RunSettings): Promise<ScenarioReport> {
  const started = Date.now();
  const logFile = logFileFor(settings, scenario);
  settings.log(`${scenario.name}: starting PostgreSQL, Redis and the system`);
  let environment: Environment;
  try {
    environment = await startEnvironment(scenario.name, scenario.env, logFile);
  } catch (error) {
    return { scenario, durationMs: Date.now() - started, logFile, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  try {
    const report = await runOnEnvironment(scenario, environment, settings);
    return { ...report, durationMs: Date.now() - started };
  } finally {
    await environment.stop();
  }
}
