// The app side of the workflow benchmark, in a process of its own as an app beside its sidecar:
// a WorkflowRuntime serving the chain and a DaprWorkflowClient keeping CONCURRENCY workflows in
// flight. Started by workflow.ts, which sends { grpcPort, count, warmup, seconds, concurrency }
// over IPC and receives { latencies, seconds }.
import { DaprWorkflowClient, LogLevel, WorkflowRuntime, WorkflowRuntimeStatus, type WorkflowActivityContext, type WorkflowContext } from '@dapr/dapr';

export interface AppRun {
  grpcPort: number;
  activities: number;
  concurrency: number;
  warmup: number;
  count: number;
  seconds: number;
}

export interface AppResult {
  latencies: number[];
  seconds: number;
  /** CPU time (user + system) of this process over the measured run, in ms. */
  cpuMs: number;
}

// @dapr/dapr 3.18 logs every work item at INFO through console.info, whatever logger it is given;
// an app would not keep that on, and the benchmark measures the sidecar, not console output.
Object.assign(console, { info: () => undefined, log: () => undefined });

const silent = () => undefined;
const sdkLogger = { level: LogLevel.Error, service: { error: silent, warn: silent, info: silent, verbose: silent, debug: silent } };

const increment = async (_context: WorkflowActivityContext, value: number) => value + 1;

/** Runs `count` workflows (or until `deadline`) with `concurrency` in flight; answers each one's latency in ms. */
async function drive(client: DaprWorkflowClient, workflow: string, concurrency: number, count: number, deadline: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < count && Date.now() < deadline) {
      next += 1;
      const started = performance.now();
      const id = await client.scheduleNewWorkflow(workflow, 0);
      const state = await client.waitForWorkflowCompletion(id, false, 60);
      if (state?.runtimeStatus !== WorkflowRuntimeStatus.COMPLETED) throw new Error(`workflow ${id} ended ${String(state?.runtimeStatus)}`);
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return latencies;
}

async function run(settings: AppRun): Promise<AppResult> {
  async function* chain(context: WorkflowContext, start: number): AsyncGenerator<unknown, number, number> {
    let value = start;
    for (let step = 0; step < settings.activities; step += 1) value = yield context.callActivity(increment, value);
    return value;
  }
  const options = { daprHost: '127.0.0.1', daprPort: String(settings.grpcPort), logger: sdkLogger };
  const runtime = new WorkflowRuntime(options).registerWorkflow(chain).registerActivity(increment);
  const client = new DaprWorkflowClient(options);
  await runtime.start();
  try {
    await drive(client, 'chain', settings.concurrency, settings.warmup, Date.now() + 60_000);
    process.send?.('measuring');
    const began = performance.now();
    const cpu = process.cpuUsage();
    const latencies = await drive(client, 'chain', settings.concurrency, settings.count, Date.now() + settings.seconds * 1_000);
    const used = process.cpuUsage(cpu);
    return { latencies, seconds: (performance.now() - began) / 1_000, cpuMs: (used.user + used.system) / 1_000 };
  } finally {
    await client.stop().catch(() => undefined);
    await runtime.stop().catch(() => undefined);
  }
}

process.once('message', (settings: AppRun) => {
  run(settings).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`workflow benchmark app failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
});
