import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startOidcProvider } from '@agora/keycloak';
import { startApp, type AppProcess } from './app-process.ts';
import { freePort } from './ports.ts';
import { databaseUrl, startEmbeddedPostgres, type DatabaseServer } from './postgres.ts';
import { readRunFile, type AppSpec } from './run-file.ts';
import { resourceFiles, startSidecars } from './sidecars.ts';

/** Components that replace components/ files for the embedded default (no Redis). */
const EMBEDDED_COMPONENTS = fileURLToPath(new URL('../../../dapr/components-embedded', import.meta.url));
/** The local sidecar's command line (dapr/src/main.ts). */
const SIDECAR_DIR = fileURLToPath(new URL('../../../dapr', import.meta.url));

/** An app or sidecar process the launcher can kill and start again. */
interface ManagedProcess {
  kind: 'app' | 'sidecar';
  spec: AppSpec;
  env: Record<string, string>;
  port: number;
  current: AppProcess;
}

function startManaged(
  kind: ManagedProcess['kind'],
  spec: AppSpec,
  env: Record<string, string>,
  port: number,
  options: LaunchOptions,
  emit: (event: LaunchEvent) => void,
  pollAfter?: Promise<unknown>,
): ManagedProcess {
  const current = startApp(spec, env, { port, readyTimeoutMs: options.readyTimeoutMs ?? 60_000, onLine: (line) => emit({ type: 'log', app: spec.id, line }), pollAfter });
  return { kind, spec, env, port, current };
}

/** A sidecar as a process, with daprd's flags; ready for its app when /v1.0/healthz/outbound answers (/v1.0/healthz waits for the app, as daprd's). */
function sidecarSpec(plan: { app: AppSpec; httpPort: number; grpcPort: number; appPort: number }, resourcesPaths: string[], peers: string, logLevel: string): AppSpec {
  return {
    id: `${plan.app.id}-dapr`,
    dir: SIDECAR_DIR,
    port: plan.httpPort,
    healthPath: '/v1.0/healthz/outbound',
    daprHttpPort: plan.httpPort,
    daprGrpcPort: plan.grpcPort,
    command: [
      'node',
      'src/main.ts',
      '--app-id',
      plan.app.id,
      '--app-port',
      String(plan.appPort),
      '--dapr-http-port',
      String(plan.httpPort),
      '--dapr-grpc-port',
      String(plan.grpcPort),
      '--peers',
      peers,
      '--log-level',
      logLevel,
      ...resourcesPaths.flatMap((path) => ['--resources-path', path]),
    ],
    env: {},
  };
}

/** The database of the state store component (components/statestore.yaml). */
const STATE_DATABASE = 'agora_dapr';

export type LaunchEvent =
  | { type: 'step'; name: string; status: 'starting' | 'ready'; detail?: string; ms?: number }
  | { type: 'log'; app: string; line: string };

export interface LaunchOptions {
  /** A Dapr multi-app run file; its apps are started in its order and in parallel. */
  runFile: string;
  /** Where the embedded PostgreSQL keeps its data. */
  dataDir: string;
  /** A PostgreSQL server to use instead of the embedded one (its database name is ignored). */
  databaseUrl?: string;
  embeddedPostgresPort?: number;
  /** An OIDC issuer to use instead of the local provider. */
  oidcIssuerUrl?: string;
  oidcPort?: number;
  /** Redis for pub/sub (Redis Streams); without it the sidecars share an in-memory pub/sub. */
  redisUrl?: string;
  /**
   * `in-process` (default): the sidecars run in the launcher's process. `processes`: each sidecar
   * is its own process (dapr/src/main.ts), so it can be killed and restarted alone (fault
   * injection); pub/sub then needs `redisUrl`.
   */
  sidecars?: 'in-process' | 'processes';
  /** `run-file`: the ports in the run file; `auto`: free ports (tests). */
  ports: 'run-file' | 'auto';
  /** Prefix for every service's database name (tests use one per run). */
  databasePrefix?: string;
  extraEnv?: Record<string, string>;
  readyTimeoutMs?: number;
  onEvent?: (event: LaunchEvent) => void;
}

export interface RunningSystem {
  gatewayUrl: string;
  issuer: string;
  databaseServer: URL;
  apps: { id: string; url: string; database: string | undefined; sidecarUrl: string }[];
  /** Sends a signal to an app (`orders`) or, with `sidecars: 'processes'`, a sidecar (`orders-dapr`). */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts an app or sidecar process again (after kill) with the same command and environment; resolves once it is ready. */
  restart(name: string): Promise<void>;
  stop(): Promise<void>;
}

const GATEWAY_ID = 'gateway';

/**
 * Starts the whole system: PostgreSQL (embedded unless a server is given), the OIDC issuer
 * (the local provider unless one is given), then every app of the run file in parallel,
 * each ready when its health path answers. Any failure stops what was started and rejects.
 */
export async function launch(options: LaunchOptions): Promise<RunningSystem> {
  const emit = options.onEvent ?? (() => undefined);
  const runFile = readRunFile(options.runFile);
  const { apps } = runFile;
  const cleanups: (() => Promise<void>)[] = [];
  // Each part is stopped whatever the one before it did; a failure is logged, not thrown.
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => emit({ type: 'log', app: 'launcher', line: `stopping: ${error instanceof Error ? error.message : String(error)}` }));
    }
  };

  const step = async <T>(name: string, detail: string, run: () => Promise<T>, readyDetail: (value: T) => string): Promise<T> => {
    const started = performance.now();
    emit({ type: 'step', name, status: 'starting', detail });
    const value = await run();
    emit({ type: 'step', name, status: 'ready', detail: readyDetail(value), ms: Math.round(performance.now() - started) });
    return value;
  };

  try {
    const database: DatabaseServer = options.databaseUrl
      ? { url: new URL(options.databaseUrl), embedded: false, stop: async () => undefined }
      : await step(
          'postgres',
          `embedded PostgreSQL, data in ${options.dataDir}`,
          async () => startEmbeddedPostgres({ dataDir: options.dataDir, port: options.embeddedPostgresPort ?? (await freePort()), log: (line) => emit({ type: 'log', app: 'postgres', line }) }),
          (server) => `postgres://${server.url.host}`,
        );
    cleanups.push(() => database.stop());

    const issuer = options.oidcIssuerUrl
      ? options.oidcIssuerUrl
      : await step(
          'identity',
          'local OIDC provider serving keycloak/agora-realm.json',
          async () => {
            const provider = await startOidcProvider({ port: options.oidcPort ?? 0 });
            cleanups.push(() => provider.close());
            return provider.issuer;
          },
          (url) => url,
        );

    const ports = new Map<string, number>();
    const sidecarPorts = new Map<string, number>();
    const grpcPorts = new Map<string, number>();
    for (const app of apps) {
      ports.set(app.id, options.ports === 'auto' ? await freePort() : app.port);
      sidecarPorts.set(app.id, options.ports === 'auto' || app.daprHttpPort === undefined ? await freePort() : app.daprHttpPort);
      grpcPorts.set(app.id, options.ports === 'auto' || app.daprGrpcPort === undefined ? await freePort() : app.daprGrpcPort);
    }
    const graphqlUrl = (id: string) => `http://127.0.0.1:${ports.get(id)}/graphql`;
    const sidecarUrl = (id: string) => `http://127.0.0.1:${sidecarPorts.get(id)}`;
    const databaseName = (name: string) => (options.databasePrefix ? `${options.databasePrefix}_${name}` : name);
    /** The database an app's DATABASE_URL in the run file names, with this launch's prefix. */
    const appDatabase = (app: AppSpec): string | undefined => {
      const configured = app.env['DATABASE_URL'];
      return configured ? databaseName(basename(new URL(configured).pathname)) : undefined;
    };

    if (!runFile.resourcesPath) throw new Error(`${options.runFile} has no common.resourcesPath (the Dapr components folder)`);
    const resourcesPath = runFile.resourcesPath;
    const stateDatabaseUrl = databaseUrl(database.url, databaseName(STATE_DATABASE));
    const sidecarEnv = { ...process.env, AGORA_STATE_DATABASE_URL: stateDatabaseUrl, ...(options.redisUrl ? { AGORA_REDIS_HOST: redisHost(options.redisUrl) } : {}) };
    const resourcesPaths = resourceFiles(resourcesPath, options.redisUrl ? undefined : EMBEDDED_COMPONENTS);
    const logLevel = options.extraEnv?.['LOG_LEVEL'] ?? 'info';
    const processes = new Map<string, ManagedProcess>();
    cleanups.push(async () => {
      await Promise.allSettled([...processes.values()].filter((managed) => managed.kind === 'sidecar').map((managed) => managed.current.stop()));
    });
    await step(
      'sidecars',
      `one local Dapr sidecar per app${options.sidecars === 'processes' ? ', each its own process' : ''}, components from ${resourcesPath}${options.redisUrl ? '' : ' with in-memory pub/sub'}`,
      async () => {
        await ensureDatabase(database.url, databaseName(STATE_DATABASE));
        const plans = apps.map((app) => ({ app, httpPort: sidecarPorts.get(app.id) ?? 0, grpcPort: grpcPorts.get(app.id) ?? 0, appPort: ports.get(app.id) ?? app.port }));
        if (options.sidecars === 'processes') {
          if (!options.redisUrl) throw new Error("sidecars: 'processes' needs redisUrl: in-memory pub/sub cannot reach across processes");
          const peers = plans.map((plan) => `${plan.app.id}=http://127.0.0.1:${plan.httpPort}`).join(',');
          for (const plan of plans) {
            const spec = sidecarSpec(plan, resourcesPaths, peers, logLevel);
            processes.set(spec.id, startManaged('sidecar', spec, sidecarEnv, plan.httpPort, options, emit));
          }
          await Promise.all([...processes.values()].map((managed) => managed.current.ready));
          return;
        }
        const sidecars = await startSidecars(plans, { resourcesPaths, env: sidecarEnv, logLevel, onLine: (app, line) => emit({ type: 'log', app, line }) });
        for (const sidecar of sidecars) cleanups.push(() => sidecar.stop());
      },
      () => apps.map((app) => `${app.id} ${sidecarUrl(app.id)}`).join(', '),
    );

    // The variables `dapr run` gives an app, plus where its database and issuer are.
    const envFor = (app: AppSpec): Record<string, string> => {
      const env: Record<string, string> = {
        ...app.env,
        ...options.extraEnv,
        HOST: '127.0.0.1',
        PORT: String(ports.get(app.id)),
        OIDC_ISSUER_URL: issuer,
        APP_ID: app.id,
        APP_PORT: String(ports.get(app.id)),
        APP_PROTOCOL: 'http',
        APP_CHANNEL_ADDRESS: '127.0.0.1',
        DAPR_HTTP_PORT: String(sidecarPorts.get(app.id)),
        DAPR_GRPC_PORT: String(grpcPorts.get(app.id)),
      };
      const name = appDatabase(app);
      if (name) env['DATABASE_URL'] = databaseUrl(database.url, name);
      return env;
    };

    const started = new Map<string, number>();
    const envs = new Map(apps.map((app) => [app.id, envFor(app)]));
    // Each app creates its database when missing, but first connects to it, which PostgreSQL logs
    // as a FATAL line on every first start; created here, the apps find them.
    await Promise.all(apps.flatMap((app) => appDatabase(app) ?? []).map((name) => ensureDatabase(database.url, name)));
    cleanups.push(async () => {
      await Promise.allSettled([...processes.values()].filter((managed) => managed.kind === 'app').map((managed) => managed.current.stop()));
    });
    // The gateway's readiness asks every subgraph's through the sidecars: asked before they
    // listen, the sidecars would log refused calls at each start. It is polled once they are up.
    const subgraphsReady: Promise<void>[] = [];
    // The gateway last (a stable sort keeps the run file's order otherwise).
    for (const app of [...apps].sort((a, b) => Number(a.id === GATEWAY_ID) - Number(b.id === GATEWAY_ID))) {
      emit({ type: 'step', name: app.id, status: 'starting', detail: `${app.command.join(' ')} in ${app.dir}` });
      started.set(app.id, performance.now());
      const gateway = app.id === GATEWAY_ID;
      const managedApp = startManaged('app', app, envs.get(app.id) ?? {}, ports.get(app.id) ?? app.port, options, emit, gateway ? Promise.allSettled(subgraphsReady) : undefined);
      processes.set(app.id, managedApp);
      if (!gateway) subgraphsReady.push(managedApp.current.ready);
    }
    await Promise.all(
      apps.map(async (app) => {
        await processes.get(app.id)?.current.ready;
        const ms = Math.round(performance.now() - (started.get(app.id) ?? 0));
        emit({ type: 'step', name: app.id, status: 'ready', detail: app.id === GATEWAY_ID ? `http://127.0.0.1:${ports.get(app.id)}/` : graphqlUrl(app.id), ms });
      }),
    );

    const managed = (name: string): ManagedProcess => {
      const found = processes.get(name);
      if (!found) throw new Error(`no process ${name}${name.endsWith('-dapr') ? " (sidecars are processes only with sidecars: 'processes')" : ''}; known: ${[...processes.keys()].join(', ')}`);
      return found;
    };

    return {
      gatewayUrl: `http://127.0.0.1:${ports.get(GATEWAY_ID)}/`,
      issuer,
      databaseServer: database.url,
      apps: apps.map((app) => ({
        id: app.id,
        url: app.id === GATEWAY_ID ? `http://127.0.0.1:${ports.get(app.id)}/` : graphqlUrl(app.id),
        database: envs.get(app.id)?.['DATABASE_URL'],
        sidecarUrl: sidecarUrl(app.id),
      })),
      async kill(name, signal = 'SIGKILL') {
        const target = managed(name).current;
        if (target.child.exitCode !== null || target.child.signalCode !== null) return;
        const exited = new Promise((resolveExit) => target.child.once('exit', resolveExit));
        target.child.kill(signal);
        if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await exited;
      },
      async restart(name) {
        const target = managed(name);
        await target.current.stop();
        target.current = startApp(target.spec, target.env, { port: target.port, readyTimeoutMs: options.readyTimeoutMs ?? 60_000, onLine: (line) => emit({ type: 'log', app: name, line }) });
        await target.current.ready;
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Creates a database on the server unless it exists (the sidecars' state store needs its own). */
async function ensureDatabase(server: URL, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.href });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) await client.query(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/** host:port for the pubsub.redis component, from a redis:// URL. */
function redisHost(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}
