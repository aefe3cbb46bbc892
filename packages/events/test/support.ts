import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '@agora/service';
import { startSidecar, type RunningSidecar } from '@agora/sidecar';
import { tempDir } from '@agora/testing';

/** A components folder holding one in-memory pub/sub named `pubsub` (extra metadata as given). */
export function pubsubResources(metadata: Record<string, string> = {}): string {
  const dir = tempDir('agora-events-');
  const entries = Object.entries(metadata).map(([name, value]) => `    - name: ${name}\n      value: "${value}"`);
  const yaml = ['apiVersion: dapr.io/v1alpha1', 'kind: Component', 'metadata:', '  name: pubsub', 'spec:', '  type: pubsub.in-memory', '  version: v1', `  metadata:${entries.length > 0 ? `\n${entries.join('\n')}` : ' []'}`].join('\n');
  writeFileSync(join(dir, 'pubsub.yaml'), `${yaml}\n`);
  return dir;
}

/** Polls `check` until it holds, failing with `what` after the deadline. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Resolves once the sidecar lists a subscription to each topic (the app's GET /dapr/subscribe has been read). */
export async function subscribed(sidecar: RunningSidecar, topics: readonly string[]): Promise<void> {
  await eventually(async () => {
    const metadata = (await (await fetch(`${sidecar.url}/v1.0/metadata`)).json()) as { subscriptions?: { topic: string }[] };
    const active = new Set((metadata.subscriptions ?? []).map((subscription) => subscription.topic));
    return topics.every((topic) => active.has(topic));
  }, `the sidecar subscribed to ${topics.join(', ')}`);
}

export interface LogEntry {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A logger at `level` whose entries are kept in `entries` (and not printed). */
export function capturingLogger(name: string, level = 'debug'): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const logger = createLogger(name, level, { write: (line: string) => void entries.push(JSON.parse(line) as LogEntry) });
  return { logger, entries };
}

export const startTestSidecar = (appId: string, resources: string, options: { appPort?: number; httpPort?: number } = {}): Promise<RunningSidecar> =>
  startSidecar({ appId, httpPort: options.httpPort ?? 0, ...(options.appPort === undefined ? {} : { appPort: options.appPort }), resourcesPaths: [resources], logLevel: 'silent' });
