import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, freePort, type TestDatabase } from '@agora/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Empty, pb, Status, stringValue, type WorkItem } from '../src/workflow/proto.ts';
import { startPrivatePostgres, type PrivatePostgres } from './fixtures/private-postgres.ts';
import { taskHub, TaskHubClient } from './fixtures/task-hub-client.ts';
import { actorStoreYaml, eventually } from './workflow-support.ts';

// Crashes and restarts with the app (fixtures/workflow-worker.ts) and the sidecar (src/main.ts)
// each in its own process, on a PostgreSQL server of the test's own. Activities apply their side
// effect under an idempotency key in the app's database (`effects`) and log every run
// (`executions`): at-least-once runs, exactly-once effects.

const APP_ID = 'durable-app';
const SIDECAR_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const WORKER = fileURLToPath(new URL('./fixtures/workflow-worker.ts', import.meta.url));
const STEPS = 3;
const INSTANCES = 4;

class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  #output = '';

  constructor(child: ChildProcess) {
    this.process = child;
    const keep = (chunk: Buffer) => (this.#output = (this.#output + chunk.toString('utf8')).slice(-4_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  get output(): string {
    return this.#output;
  }

  async kill9(): Promise<void> {
    if (this.running) this.process.kill('SIGKILL');
    await this.exited;
  }
}

let postgres: PrivatePostgres;
let appDatabase: TestDatabase;
let appPool: pg.Pool;
let resourcesDir: string;
let httpPort: number;
let grpcPort: number;
let sidecar: Child;
let app: Child;

async function startSidecarProcess(): Promise<Child> {
  const child = new Child(
    spawn(
      process.execPath,
      [SIDECAR_MAIN, '--app-id', APP_ID, '--dapr-http-port', String(httpPort), '--dapr-grpc-port', String(grpcPort), '--resources-path', resourcesDir, '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  await eventually(
    async () => {
      if (!child.running) throw new Error(`the sidecar exited:\n${child.output}`);
      const response = await fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz`, { signal: AbortSignal.timeout(500) }).catch(() => undefined);
      return response?.ok;
    },
    'the sidecar answers',
    15_000,
  );
  return child;
}

async function startApp(options: { hold: boolean }): Promise<Child> {
  const child = new Child(
    fork(WORKER, ['--grpc-port', String(grpcPort), '--effects-url', appDatabase.url, ...(options.hold ? ['--hold'] : [])], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] }),
  );
  await new Promise<void>((resolve, reject) => {
    child.process.once('message', () => resolve());
    void child.exited.then(() => reject(new Error(`the app exited:\n${child.output}`)));
  });
  return child;
}

/** Sends 'hold' or 'release' to the app and waits until it has acted on it. */
async function tellApp(message: 'hold' | 'release'): Promise<void> {
  const acknowledged = new Promise<void>((resolve) => {
    const listener = (answer: unknown) => {
      if (answer !== `${message}:done`) return;
      app.process.off('message', listener);
      resolve();
    };
    app.process.on('message', listener);
  });
  app.process.send(message);
  await acknowledged;
}

const api = (path: string) => `http://127.0.0.1:${httpPort}/v1.0/workflows/dapr${path}`;

async function startInstances(prefix: string, count = INSTANCES): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  for (const id of ids) {
    const response = await fetch(api(`/durableChain/start?instanceID=${id}`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(STEPS) });
    expect(response.status).toBe(202);
  }
  return ids;
}

/** Waits until every instance of `prefix` has run (or is running) its first activity. */
async function untilFirstStepsRan(prefix: string): Promise<void> {
  await eventually(async () => {
    const result = await appPool.query<{ count: string }>("SELECT count(DISTINCT instance_id) AS count FROM executions WHERE instance_id LIKE $1 || '-%' AND step = 1", [prefix]);
    return Number(result.rows[0]?.count) === INSTANCES;
  }, `every ${prefix} instance runs its first activity`);
}

/** Waits until every instance completed with `output` (every step's result by default), through the sidecar's HTTP API (tolerating it being down). */
async function untilCompleted(ids: readonly string[], timeoutMs: number, output: unknown = Array.from({ length: STEPS }, (_, index) => index + 1)): Promise<void> {
  const pending = new Set(ids);
  const waiting = eventually(
    async () => {
      for (const id of [...pending]) {
        const response = await fetch(api(`/${id}`), { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        if (!response?.ok) continue;
        const body = (await response.json()) as { runtimeStatus: string; properties: Record<string, string> };
        if (body.runtimeStatus === 'FAILED') throw new Error(`${id} failed: ${JSON.stringify(body.properties)}`);
        if (body.runtimeStatus !== 'COMPLETED') continue;
        expect(JSON.parse(body.properties['dapr.workflow.output'] ?? 'null')).toEqual(output);
        pending.delete(id);
      }
      return pending.size === 0;
    },
    `${[...pending].join(', ')} complete`,
    timeoutMs,
  );
  await waiting.catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- sidecar output\n${sidecar.output}\n--- app output\n${app.output}`);
  });
}

/** Asserts one effect per step of every instance of `prefix`; answers how many times each first step ran. */
async function effectsOnce(prefix: string): Promise<number[]> {
  const effects = await appPool.query<{ count: string }>("SELECT count(*) AS count FROM effects WHERE instance_id LIKE $1 || '-%'", [prefix]);
  expect(Number(effects.rows[0]?.count)).toBe(INSTANCES * STEPS);
  const runs = await appPool.query<{ instance_id: string; step: number; runs: string }>(
    "SELECT instance_id, step, count(*) AS runs FROM executions WHERE instance_id LIKE $1 || '-%' GROUP BY instance_id, step ORDER BY instance_id, step",
    [prefix],
  );
  expect(runs.rows).toHaveLength(INSTANCES * STEPS);
  return runs.rows.filter((row) => row.step === 1).map((row) => Number(row.runs));
}

beforeAll(async () => {
  [postgres, appDatabase, httpPort, grpcPort] = await Promise.all([startPrivatePostgres('dapr-workflow-durability'), createTestDatabase('dapr_workflow_durability_app'), freePort(), freePort()]);
  appPool = new pg.Pool({ connectionString: appDatabase.url, max: 2 });
  await appPool.query(`
    CREATE TABLE executions (instance_id text NOT NULL, step integer NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE effects (instance_id text NOT NULL, step integer NOT NULL, PRIMARY KEY (instance_id, step));`);
  resourcesDir = mkdtempSync(join(tmpdir(), 'dapr-workflow-durability-'));
  writeFileSync(join(resourcesDir, 'statestore.yaml'), actorStoreYaml(postgres.url));
  sidecar = await startSidecarProcess();
  app = await startApp({ hold: false });
});

afterAll(async () => {
  await Promise.all([app?.kill9(), sidecar?.kill9()]);
  await appPool?.end();
  await appDatabase?.drop();
  await postgres?.remove();
  if (resourcesDir) rmSync(resourcesDir, { recursive: true, force: true });
});

describe('workflow durability across crashes and restarts', () => {
  it('completes every instance after the app is killed mid-activity, applying each effect once', async () => {
    await tellApp('hold');
    const ids = await startInstances('app-kill');
    await untilFirstStepsRan('app-kill');
    await app.kill9();
    app = await startApp({ hold: false });
    await untilCompleted(ids, 20_000);
    // Each first step ran in the killed app and again in the new one; its effect exists once.
    expect(await effectsOnce('app-kill')).toEqual(ids.map(() => 2));
  });

  it('completes every instance after the sidecar is killed mid-workflow and restarted on the same ports', async () => {
    await tellApp('hold');
    const ids = await startInstances('sidecar-kill');
    await untilFirstStepsRan('sidecar-kill');
    await sidecar.kill9();
    // The activities finish while the sidecar is gone: their results cannot be delivered.
    await tellApp('release');
    sidecar = await startSidecarProcess();
    // The app's WorkflowRuntime reconnects by itself (1 s, then 2 s, … backoff).
    await untilCompleted(ids, 25_000);
    for (const runs of await effectsOnce('sidecar-kill')) expect(runs).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it('completes every instance after the app and its sidecar are killed together mid-workflow and both restart', async () => {
    await tellApp('hold');
    const ids = await startInstances('both-kill');
    await untilFirstStepsRan('both-kill');
    // The host goes down: neither process gets to say goodbye.
    await Promise.all([app.kill9(), sidecar.kill9()]);
    sidecar = await startSidecarProcess();
    app = await startApp({ hold: false });
    await untilCompleted(ids, 25_000);
    // Each first step ran in the killed app and again after the restart; every effect exists once.
    for (const runs of await effectsOnce('both-kill')) expect(runs).toBeGreaterThanOrEqual(2);
    const later = await appPool.query<{ runs: string }>("SELECT count(*) AS runs FROM executions WHERE instance_id LIKE 'both-kill-%' AND step > 1 GROUP BY instance_id, step");
    expect(later.rows.map((row) => Number(row.runs))).toEqual(ids.flatMap(() => Array.from({ length: STEPS - 1 }, () => 1)));
  }, 40_000);

  it('completes every instance across a PostgreSQL restart mid-workflow', async () => {
    await tellApp('hold');
    const ids = await startInstances('pg-restart');
    await untilFirstStepsRan('pg-restart');
    await postgres.stop();
    // The activities complete during the outage; the sidecar retries saving their results.
    await tellApp('release');
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the outage
    await postgres.start();
    await untilCompleted(ids, 25_000);
    await effectsOnce('pg-restart');
    expect(sidecar.running).toBe(true);
  }, 40_000);

  it('refuses a completion from a worker that does not hold the work item (FAILED_PRECONDITION)', async () => {
    await app.kill9();
    const first = new TaskHubClient(grpcPort);
    const second = new TaskHubClient(grpcPort);
    const id = 'stale-0';
    const orchestratorItems = (items: WorkItem[]) => items.filter((item) => item.getOrchestratorrequest()?.getInstanceid() === id);
    const respond = (...actions: InstanceType<typeof pb.OrchestratorAction>[]) => {
      const response = new pb.OrchestratorResponse();
      response.setInstanceid(id);
      response.setActionsList(actions);
      return response;
    };
    const complete = (result: string) => {
      const action = new pb.OrchestratorAction();
      action.setId(1);
      const done = new pb.CompleteOrchestrationAction();
      done.setOrchestrationstatus(Status.ORCHESTRATION_STATUS_COMPLETED);
      done.setResult(stringValue(JSON.stringify(result)));
      action.setCompleteorchestration(done);
      return respond(action);
    };
    const activityResult = () => {
      const result = new pb.ActivityResponse();
      result.setInstanceid(id);
      result.setTaskid(0);
      result.setResult(stringValue('1'));
      return result;
    };
    const refused = { code: grpc.status.FAILED_PRECONDITION };
    try {
      const firstItems: WorkItem[] = [];
      const firstStream = first.workItems((item) => firstItems.push(item));
      await first.call(taskHub.hello, new Empty());
      await startInstances('stale', 1);
      await eventually(() => orchestratorItems(firstItems).length === 1, 'the first worker receives the work item');
      // A client that is no worker at all.
      await expect(second.call(taskHub.completeOrchestratorTask, complete('second'))).rejects.toMatchObject(refused);

      // The first worker's stream breaks; after the grace period its item goes to the second worker.
      firstStream.cancel();
      const secondItems: WorkItem[] = [];
      const secondStream = second.workItems((item) => secondItems.push(item));
      await eventually(() => orchestratorItems(secondItems).length === 1, 'the work item is dispatched again to the second worker', 15_000);
      await expect(first.call(taskHub.completeOrchestratorTask, complete('first'))).rejects.toMatchObject(refused);

      // The second worker schedules an activity; a second answer to the same item is refused.
      const schedule = new pb.OrchestratorAction();
      schedule.setId(0);
      const task = new pb.ScheduleTaskAction();
      task.setName('applyStep');
      task.setInput(stringValue(JSON.stringify({ instanceId: id, step: 1 })));
      schedule.setScheduletask(task);
      await second.call(taskHub.completeOrchestratorTask, respond(schedule));
      await expect(second.call(taskHub.completeOrchestratorTask, respond(schedule))).rejects.toMatchObject(refused);

      // Only the worker holding the activity may complete it, once.
      await eventually(() => secondItems.some((item) => item.getActivityrequest()?.getTaskid() === 0), 'the second worker receives the activity');
      await expect(first.call(taskHub.completeActivityTask, activityResult())).rejects.toMatchObject(refused);
      await second.call(taskHub.completeActivityTask, activityResult());
      await expect(second.call(taskHub.completeActivityTask, activityResult())).rejects.toMatchObject(refused);

      await eventually(() => orchestratorItems(secondItems).length === 2, 'the activity result reaches the orchestrator');
      await second.call(taskHub.completeOrchestratorTask, complete('second'));
      secondStream.cancel();
      // Accepted results are saved right after the answer, as durabletask-go's executor does.
      await untilCompleted([id], 5_000, 'second');
    } finally {
      first.close();
      second.close();
    }
  });
});
