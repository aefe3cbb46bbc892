import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const repoPath = (...parts: string[]): string => join(repoRoot, ...parts);
export const readText = (...parts: string[]): string => readFileSync(repoPath(...parts), 'utf8');
export const readYaml = (...parts: string[]): unknown => parse(readText(...parts), { merge: true });

/** One app of dapr/dapr.yaml, with common.env merged into its env (as `dapr run` does). */
export interface RunFileApp {
  appID: string;
  /** The app's folder relative to the repository root, e.g. `subgraphs/users`. */
  dir: string;
  appPort: number;
  appProtocol: string;
  daprHTTPPort: number | undefined;
  daprGRPCPort: number | undefined;
  appHealthCheckPath: string | undefined;
  command: string[];
  env: Record<string, string>;
}

export interface RunFile {
  resourcesPath: string;
  configFilePath: string;
  apps: RunFileApp[];
}

interface RawApp {
  appID: string;
  appDirPath: string;
  appPort: number;
  appProtocol?: string;
  daprHTTPPort?: number;
  daprGRPCPort?: number;
  appHealthCheckPath?: string;
  command: string[];
  env?: Record<string, unknown>;
}

const stringValues = (env: Record<string, unknown> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(env ?? {}).map(([key, value]) => [key, String(value)]));

/** dapr/dapr.yaml, the single description of the apps (ADR 0003); its paths resolved from the repository root. */
export function readRunFile(): RunFile {
  const raw = readYaml('dapr', 'dapr.yaml') as { common?: { resourcesPath?: string; configFilePath?: string; env?: Record<string, unknown> }; apps: RawApp[] };
  const base = repoPath('dapr');
  const fromRoot = (path: string) => relative(repoRoot, resolve(base, path));
  return {
    resourcesPath: fromRoot(raw.common?.resourcesPath ?? '../components'),
    configFilePath: fromRoot(raw.common?.configFilePath ?? 'config.yaml'),
    apps: raw.apps.map((app) => ({
      appID: app.appID,
      dir: fromRoot(app.appDirPath),
      appPort: app.appPort,
      // `dapr run`'s default.
      appProtocol: app.appProtocol ?? 'http',
      daprHTTPPort: app.daprHTTPPort,
      daprGRPCPort: app.daprGRPCPort,
      appHealthCheckPath: app.appHealthCheckPath,
      command: app.command,
      env: { ...stringValues(raw.common?.env), ...stringValues(app.env) },
    })),
  };
}

/** A Dapr resource (Component, Configuration, Resiliency) as YAML documents of a file. */
export interface DaprResource {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown> & { type?: string; metadata?: { name: string; value?: unknown; secretKeyRef?: { name: string; key: string } }[] };
  auth?: { secretStore?: string };
  scopes?: string[];
}

export function readDaprResources(...parts: string[]): DaprResource[] {
  return parseAllDocuments(readText(...parts))
    .map((document) => document.toJS() as DaprResource | null)
    .filter((resource): resource is DaprResource => resource !== null);
}

/**
 * Environment variables daprd must have for components/: the secretKeyRef names of components
 * (in scope for the app) whose secret store is `secretstores.local.env`.
 */
export function sidecarSecretNames(components: DaprResource[], appId: string): string[] {
  const envStores = new Set(components.filter((c) => c.kind === 'Component' && c.spec.type === 'secretstores.local.env').map((c) => c.metadata.name));
  const names = new Set<string>();
  for (const component of components) {
    if (component.kind !== 'Component' || component.auth?.secretStore === undefined || !envStores.has(component.auth.secretStore)) continue;
    if (component.scopes !== undefined && !component.scopes.includes(appId)) continue;
    for (const item of component.spec.metadata ?? []) if (item.secretKeyRef) names.add(item.secretKeyRef.name);
  }
  return [...names].sort();
}

/** What an app's src/env.ts makes of an environment. */
export interface AppEnvCheck {
  /** The variables the app reads, with their parsed values (defaults included). */
  parsed: Record<string, unknown>;
  /** The variables the app refuses to start without (from its ConfigError on an empty environment). */
  required: string[];
}

interface EnvModule {
  loadEnv: (source: NodeJS.ProcessEnv) => Record<string, unknown>;
}

/** Loads `<appDir>/src/env.ts` and runs its `loadEnv` on `env`; throws the app's own ConfigError when it would not start. */
export async function checkAppEnv(appDir: string, env: Record<string, string>): Promise<AppEnvCheck> {
  const module = (await import(pathToFileURL(repoPath(appDir, 'src', 'env.ts')).href)) as Partial<EnvModule>;
  if (typeof module.loadEnv !== 'function') throw new Error(`${appDir}/src/env.ts does not export loadEnv`);
  const loadEnv = module.loadEnv;
  let required: string[] = [];
  try {
    loadEnv({});
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'ConfigError') throw error;
    // parseEnv's message: one "  NAME: expected ... (it is not set)" line per variable.
    required = [...error.message.matchAll(/^ {2}([A-Z][A-Z0-9_]*): .*\(it is not set\)$/gm)].map((match) => match[1] ?? '');
  }
  return { parsed: loadEnv(env), required };
}

/** Variables set for an app that its env.ts does not read, but other readers do. */
export const READ_ELSEWHERE: { pattern: RegExp; reader: string }[] = [
  { pattern: /^(APP_ID|APP_PORT|APP_PROTOCOL|APP_CHANNEL_ADDRESS|DAPR_HTTP_PORT|DAPR_GRPC_PORT)$/, reader: 'the variables `dapr run` gives an app (ADR 0006); the Dapr SDK reads DAPR_*' },
  { pattern: /^OTEL_[A-Z_]+$/, reader: 'the OpenTelemetry SDK (standard OTEL_* variables, issue 7)' },
  { pattern: /^NODE_OPTIONS$/, reader: 'Node itself (V8 flags, ADR 0019)' },
];

export const isReadElsewhere = (name: string): boolean => READ_ELSEWHERE.some(({ pattern }) => pattern.test(name));

/** Command-line flags as daprd parses them: `--name value`, `--name=value`, or a bare boolean `--name`. */
export function parseFlags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('-')) continue;
    const name = arg.replace(/^--?/, '');
    const equals = name.indexOf('=');
    if (equals >= 0) {
      flags.set(name.slice(0, equals), name.slice(equals + 1));
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next.startsWith('-')) {
      flags.set(name, 'true');
    } else {
      flags.set(name, next);
      i += 1;
    }
  }
  return flags;
}

/** A service of docker-compose.yml, after YAML anchors and merge keys are resolved. */
export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  working_dir?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  network_mode?: string;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: unknown[];
  depends_on?: string[] | Record<string, unknown>;
  healthcheck?: unknown;
  user?: string;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export const readCompose = (): ComposeFile => readYaml('docker-compose.yml') as ComposeFile;

/**
 * Compose's interpolation with an empty environment: `${NAME:-default}` and `${NAME-default}`
 * give the default, `${NAME}` and `$NAME` give "", `$$` is a literal `$`.
 */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, _braced: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    return fallback ?? '';
  });
}

/** A service's environment as the container sees it (map or list form, interpolated). */
export function serviceEnvironment(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const entries = Array.isArray(service.environment)
    ? service.environment.map((line): [string, string] => {
        const equals = line.indexOf('=');
        return equals < 0 ? [line, ''] : [line.slice(0, equals), line.slice(equals + 1)];
      })
    : Object.entries(service.environment ?? {}).map(([key, value]): [string, string] => [key, value === null ? '' : String(value)]);
  for (const [key, value] of entries) env[key] = interpolate(value);
  return env;
}

/** A service's command as an argument list (compose splits a string like a shell would; only lists are used here). */
export function serviceCommand(service: ComposeService): string[] {
  if (service.command === undefined) return [];
  if (typeof service.command === 'string') throw new Error('use the list form of command, so that it is checked exactly');
  return service.command.map(interpolate);
}

/** Bind mounts of a service as [host path relative to the repository root, container path, read-only]. */
export function bindMounts(service: ComposeService): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).flatMap((volume) => {
    if (typeof volume !== 'string') return volume.type === 'bind' && volume.source && volume.target ? [{ source: volume.source, target: volume.target, readOnly: false }] : [];
    const [source = '', target = '', mode = ''] = volume.split(':');
    return source.startsWith('.') || source.startsWith('/') ? [{ source, target, readOnly: mode.split(',').includes('ro') }] : [];
  });
}

/** A service's image reference, interpolated. */
export const serviceImage = (service: ComposeService): string => interpolate(service.image ?? '');
