import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaprWorkflowClient, LogLevel, WorkflowRuntime } from '@dapr/dapr';
import { createTestDatabase, type TestDatabase } from '@agora/testing';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';

// A sidecar with a PostgreSQL actor state store in its own database, and SDK clients for it.

export const quietLogger = { level: LogLevel.Error, service: { error: () => undefined, warn: () => undefined, info: () => undefined, verbose: () => undefined, debug: () => undefined } };

export function actorStoreYaml(databaseUrl: string): string {
  return [
    'apiVersion: dapr.io/v1alpha1',
    'kind: Component',
    'metadata: { name: statestore }',
    'spec:',
    '  type: state.postgresql',
    '  version: v1',
    '  metadata:',
    `    - { name: connectionString, value: ${JSON.stringify(databaseUrl)} }`,
    '    - { name: actorStateStore, value: "true" }',
  ].join('\n');
}

export interface WorkflowTestbed {
  database: TestDatabase;
  resourcesDir: string;
  sidecar: RunningSidecar;
  grpcPort: number;
  client: DaprWorkflowClient;
  newRuntime(): WorkflowRuntime;
  close(): Promise<void>;
}

export async function startWorkflowTestbed(name: string): Promise<WorkflowTestbed> {
  const database = await createTestDatabase(name);
  const resourcesDir = mkdtempSync(join(tmpdir(), `${name}-`));
  writeFileSync(join(resourcesDir, 'statestore.yaml'), actorStoreYaml(database.url));
  const sidecar = await startSidecar({ appId: 'workflow-app', httpPort: 0, grpcPort: 0, resourcesPaths: [resourcesDir], logLevel: 'silent' });
  const grpcPort = sidecar.grpcPort ?? 0;
  const options = { daprHost: '127.0.0.1', daprPort: String(grpcPort), logger: quietLogger };
  const client = new DaprWorkflowClient(options);
  return {
    database,
    resourcesDir,
    sidecar,
    grpcPort,
    client,
    newRuntime: () => new WorkflowRuntime(options),
    async close() {
      await client.stop();
      await sidecar.stop();
      await database.drop();
      rmSync(resourcesDir, { recursive: true, force: true });
    },
  };
}

export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
