import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSidecar, type RunningSidecar } from '@agora/sidecar';
import { createLogger } from '@agora/service';
import type { AppSpec } from './run-file.ts';

export interface SidecarPlan {
  app: AppSpec;
  httpPort: number;
  grpcPort: number;
  appPort: number;
}

/**
 * The resource files for the local sidecars: the run file's components folder, where a file of
 * the same name in `overridesDir` replaces it (the embedded default's in-memory pub/sub).
 */
export function resourceFiles(componentsDir: string, overridesDir: string | undefined): string[] {
  const yaml = (dir: string) => readdirSync(dir).filter((name) => /\.ya?ml$/.test(name)).sort();
  const overrides = overridesDir ? yaml(overridesDir) : [];
  return [
    ...yaml(componentsDir)
      .filter((name) => !overrides.includes(name))
      .map((name) => join(componentsDir, name)),
    ...overrides.map((name) => join(overridesDir ?? '', name)),
  ];
}

/**
 * Starts one local sidecar per app, all in this process (each with its own port and identity),
 * so that an in-memory pub/sub reaches every app. Each finds the others by app id.
 */
export async function startSidecars(
  plans: readonly SidecarPlan[],
  options: { resourcesPaths: string[]; env: NodeJS.ProcessEnv; logLevel: string; onLine: (app: string, line: string) => void },
): Promise<RunningSidecar[]> {
  const peers = Object.fromEntries(plans.map((plan) => [plan.app.id, `http://127.0.0.1:${plan.httpPort}`]));
  const started: RunningSidecar[] = [];
  try {
    for (const plan of plans) {
      const name = `${plan.app.id}-dapr`;
      const logger = createLogger(name, options.logLevel, { write: (line: string) => options.onLine(name, line.trimEnd()) });
      started.push(
        await startSidecar({ appId: plan.app.id, appPort: plan.appPort, httpPort: plan.httpPort, grpcPort: plan.grpcPort, resourcesPaths: options.resourcesPaths, peers, env: options.env, logger }),
      );
    }
    return started;
  } catch (error) {
    await Promise.allSettled(started.map((sidecar) => sidecar.stop()));
    throw error;
  }
}
