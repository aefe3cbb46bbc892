import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const appSchema = z.object({
  appID: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lower-case app id'),
  appDirPath: z.string().min(1),
  appPort: z.number().int().min(1).max(65535),
  appHealthCheckPath: z.string().startsWith('/').default('/health/ready'),
  daprHTTPPort: z.number().int().min(1).max(65535).optional(),
  daprGRPCPort: z.number().int().min(1).max(65535).optional(),
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), envValue).default({}),
});

const runFileSchema = z.object({
  version: z.literal(1),
  common: z.object({ resourcesPath: z.string().optional(), env: z.record(z.string(), envValue).default({}) }).default({ env: {} }),
  apps: z.array(appSchema).min(1),
});

export interface AppSpec {
  id: string;
  /** Absolute directory the command runs in. */
  dir: string;
  port: number;
  healthPath: string;
  /** The sidecar's HTTP port (DAPR_HTTP_PORT). */
  daprHttpPort: number | undefined;
  /** The sidecar's gRPC port (DAPR_GRPC_PORT): the workflow protocol. */
  daprGrpcPort: number | undefined;
  command: [string, ...string[]];
  /** common.env merged with the app's env. */
  env: Record<string, string>;
}

export interface RunFile {
  apps: AppSpec[];
  /** Absolute path of common.resourcesPath (the Dapr components). */
  resourcesPath: string | undefined;
}

/** Reads a Dapr multi-app run file (the format `dapr run -f` takes). */
export function readRunFile(path: string): RunFile {
  const parsed = runFileSchema.safeParse(parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${path} is not a valid run file:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  const base = dirname(path);
  const { resourcesPath } = parsed.data.common;
  const apps = parsed.data.apps.map((app) => ({
    id: app.appID,
    dir: resolve(base, app.appDirPath),
    port: app.appPort,
    healthPath: app.appHealthCheckPath,
    daprHttpPort: app.daprHTTPPort,
    daprGrpcPort: app.daprGRPCPort,
    command: app.command as [string, ...string[]],
    env: { ...parsed.data.common.env, ...app.env },
  }));
  return { apps, resourcesPath: resourcesPath === undefined ? undefined : resolve(base, resourcesPath) };
}
