import { basename } from 'node:path';
import { startOidcProvider } from '@agora/keycloak';
import { startApp, type AppProcess } from './app-process.ts';
import { freePort } from './ports.ts';
import { databaseUrl, startEmbeddedPostgres, type DatabaseServer } from './postgres.ts';
import { readRunFile, type AppSpec } from './run-file.ts';

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
  apps: { id: string; url: string; database: string | undefined }[];
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
  const apps = readRunFile(options.runFile);
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
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
    for (const app of apps) ports.set(app.id, options.ports === 'auto' ? await freePort() : app.port);
    const graphqlUrl = (id: string) => `http://127.0.0.1:${ports.get(id)}/graphql`;

    const envFor = (app: AppSpec): Record<string, string> => {
      const env: Record<string, string> = { ...app.env, ...options.extraEnv, HOST: '127.0.0.1', PORT: String(ports.get(app.id)), OIDC_ISSUER_URL: issuer };
      const configured = app.env['DATABASE_URL'];
      if (configured) {
        const name = basename(new URL(configured).pathname);
        env['DATABASE_URL'] = databaseUrl(database.url, options.databasePrefix ? `${options.databasePrefix}_${name}` : name);
      }
      if (app.id === GATEWAY_ID) {
        for (const other of apps) if (other.id !== GATEWAY_ID) env[`SUBGRAPH_${other.id.toUpperCase()}_URL`] = graphqlUrl(other.id);
      }
      return env;
    };

    const processes: AppProcess[] = [];
    const started = new Map<string, number>();
    const envs = new Map(apps.map((app) => [app.id, envFor(app)]));
    for (const app of apps) {
      emit({ type: 'step', name: app.id, status: 'starting', detail: `${app.command.join(' ')} in ${app.dir}` });
      started.set(app.id, performance.now());
      const process = startApp(app, envs.get(app.id) ?? {}, {
        port: ports.get(app.id) ?? app.port,
        readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
        onLine: (line) => emit({ type: 'log', app: app.id, line }),
      });
      processes.push(process);
      cleanups.push(() => process.stop());
    }
    await Promise.all(
      processes.map(async (process) => {
        await process.ready;
        const ms = Math.round(performance.now() - (started.get(process.id) ?? 0));
        emit({ type: 'step', name: process.id, status: 'ready', detail: process.id === GATEWAY_ID ? `http://127.0.0.1:${ports.get(process.id)}/` : graphqlUrl(process.id), ms });
      }),
    );

    return {
      gatewayUrl: `http://127.0.0.1:${ports.get(GATEWAY_ID)}/`,
      issuer,
      databaseServer: database.url,
      apps: apps.map((app) => ({ id: app.id, url: app.id === GATEWAY_ID ? `http://127.0.0.1:${ports.get(app.id)}/` : graphqlUrl(app.id), database: envs.get(app.id)?.['DATABASE_URL'] })),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
