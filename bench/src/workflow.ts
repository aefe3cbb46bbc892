// Workflow throughput and latency of the local sidecar: a chain of 5 activities, 30 workflows in
// flight at a time, as in Dapr's published workflow performance tests, through the official SDK.
// The sidecar runs here with PostgreSQL of its own; the app (WorkflowRuntime + DaprWorkflowClient,
// workflow-app.ts) runs in a child process, as an app does beside its sidecar.
//   node bench/src/workflow.ts   (or `pnpm bench workflow`)
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSidecar } from '@agora/sidecar';
import { startBenchPostgres, type BenchPostgres } from './postgres.ts';
import { ascending, machine, percentile, runStart, writeResult, type RunStart } from './report.ts';
import type { AppResult, AppRun } from './workflow-app.ts';

const CONCURRENCY = 30;
const ACTIVITIES = 5;
const WARMUP = 60;
/** Measured workflows: the run stops at this count or after MAX_SECONDS, whichever comes first. */
const COUNT = 1_500;
const MAX_SECONDS = 60;
/** The workflow store's connections (default 10): the database is the benchmark's alone. */
const POOL_MAX_CONNS = 20;
/** Dapr 1.17 and 1.18 published figures for this scenario (5 chained activities, 30 concurrent). */
const DAPR = { throughput: [28, 48], p50Seconds: [0.6, 1.0] } as const;
const APP = fileURLToPath(new URL('./workflow-app.ts', import.meta.url));

interface Measured extends AppResult {
  sidecarCpuMs: number;
  postgresCpuMs: number | undefined;
}

/** Runs the app process; answers its result with the CPU time (ms) the sidecar (this process) and PostgreSQL used over the measured run. */
function runApp(settings: AppRun, postgres: BenchPostgres): Promise<Measured> {
  const app = fork(APP, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], execArgv: [] });
  let cpu = process.cpuUsage();
  let postgresCpu = postgres.cpuMs();
  return new Promise((resolve, reject) => {
    app.on('message', (message: 'measuring' | AppResult) => {
      if (message === 'measuring') {
        cpu = process.cpuUsage();
        postgresCpu = postgres.cpuMs();
        return;
      }
      const used = process.cpuUsage(cpu);
      const postgresNow = postgres.cpuMs();
      resolve({ ...message, sidecarCpuMs: (used.user + used.system) / 1_000, postgresCpuMs: postgresNow === undefined || postgresCpu === undefined ? undefined : postgresNow - postgresCpu });
    });
    app.once('exit', (code) => reject(new Error(`the benchmark app exited with code ${String(code)}`)));
    app.send(settings);
  });
}

export async function run(): Promise<void> {
  const postgres = await startBenchPostgres();
  const resourcesDir = mkdtempSync(join(os.tmpdir(), 'agora-bench-resources-'));
  writeFileSync(
    join(resourcesDir, 'statestore.yaml'),
    [
      'apiVersion: dapr.io/v1alpha1',
      'kind: Component',
      'metadata: { name: statestore }',
      'spec:',
      '  type: state.postgresql',
      '  version: v1',
      '  metadata:',
      `    - { name: connectionString, value: ${JSON.stringify(`${postgres.keywords} pool_max_conns=${POOL_MAX_CONNS}`)} }`,
      '    - { name: actorStateStore, value: "true" }',
    ].join('\n'),
  );
  const sidecar = await startSidecar({ appId: 'bench', httpPort: 0, grpcPort: 0, resourcesPaths: [resourcesDir], logLevel: 'error' });
  try {
    const start = runStart();
    process.stdout.write(`${WARMUP} workflows to warm up, then ${COUNT} of ${ACTIVITIES} chained activities, ${CONCURRENCY} concurrent (at most ${MAX_SECONDS} s)…\n`);
    const result = await runApp({ grpcPort: sidecar.grpcPort ?? 0, activities: ACTIVITIES, concurrency: CONCURRENCY, warmup: WARMUP, count: COUNT, seconds: MAX_SECONDS }, postgres);
    report(result, start);
  } finally {
    await sidecar.stop();
    await postgres.remove();
    rmSync(resourcesDir, { recursive: true, force: true });
  }
}

function report(result: Measured, start: RunStart): void {
  const { latencies, seconds } = result;
  const sorted = ascending(latencies);
  const throughput = latencies.length / seconds;
  const p50 = percentile(sorted, 50) / 1_000;
  const p95 = percentile(sorted, 95) / 1_000;
  const goalThroughput = 3 * DAPR.throughput[1];
  const goalP50 = DAPR.p50Seconds[0] / 3;
  const host = machine(start);
  const table = [
    '| | local sidecar | Dapr 1.17–1.18 (published) | goal |',
    '| --- | --- | --- | --- |',
    `| throughput | ${throughput.toFixed(1)} wf/s | ${DAPR.throughput[0]}–${DAPR.throughput[1]} wf/s | ≥ ${goalThroughput} wf/s (3× their best) ${throughput >= goalThroughput ? 'met' : 'not met'} |`,
    `| p50 latency | ${p50.toFixed(3)} s | ${DAPR.p50Seconds[0]}–${DAPR.p50Seconds[1]} s | ≤ ${goalP50.toFixed(2)} s (⅓ of their best) ${p50 <= goalP50 ? 'met' : 'not met'} |`,
    `| p95 latency | ${p95.toFixed(3)} s | | |`,
    `| CPU per workflow | sidecar ${(result.sidecarCpuMs / latencies.length).toFixed(1)} ms, app ${(result.cpuMs / latencies.length).toFixed(1)} ms, PostgreSQL ${result.postgresCpuMs === undefined ? '?' : (result.postgresCpuMs / latencies.length).toFixed(1)} ms | | |`,
  ].join('\n');
  const cpuPerWorkflow = result.postgresCpuMs === undefined ? undefined : (result.sidecarCpuMs + result.cpuMs + result.postgresCpuMs) / latencies.length;
  const ceiling =
    cpuPerWorkflow === undefined
      ? ''
      : `Together ${cpuPerWorkflow.toFixed(1)} ms of CPU per workflow: with the ${os.cpus().length} cores to themselves, the three processes could not exceed about ${((os.cpus().length * 1_000) / cpuPerWorkflow).toFixed(0)} wf/s.`;
  process.stdout.write(`\n${table}\n\n${latencies.length} workflows in ${seconds.toFixed(1)} s on ${host}\n${ceiling}\n`);
  const path = writeResult(
    'workflow.md',
    [
      '# Workflow benchmark',
      '',
      `${start.date}, \`pnpm bench workflow\` (bench/src/workflow.ts): ${latencies.length} workflows of ${ACTIVITIES} chained activities, ${CONCURRENCY} in flight, after ${WARMUP} for warm-up; the local sidecar in one Node process, the app (the SDK's WorkflowRuntime and DaprWorkflowClient) in another, PostgreSQL (embedded, default settings, fsync on; \`pool_max_conns=${POOL_MAX_CONNS}\` in the state store's connection string) on the same machine. Latency is from \`scheduleNewWorkflow\` to \`waitForWorkflowCompletion\` returning.`,
      '',
      `Machine: ${host}.`,
      '',
      table,
      '',
      ceiling,
      '',
    ].join('\n'),
  );
  process.stdout.write(`written to ${path}\n`);
}

if (import.meta.main) await run();
