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
  command: [string, ...string[]];
  /** common.env merged with the app's env. */
  env: Record<string, string>;
}

/** Reads a Dapr multi-app run file (the format `dapr run -f` takes). */
export function readRunFile(path: string): AppSpec[] {
  const parsed = runFileSchema.safeParse(parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${path} is not a valid run file:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  const base = dirname(path);
  return parsed.data.apps.map((app) => ({
    id: app.appID,
    dir: resolve(base, app.appDirPath),
    port: app.appPort,
    healthPath: app.appHealthCheckPath,
    command: app.command as [string, ...string[]],
    env: { ...parsed.data.common.env, ...app.env },
  }));
}
