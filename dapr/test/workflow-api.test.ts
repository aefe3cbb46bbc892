import { randomBytes } from 'node:crypto';
import { metrics, trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { type WorkflowActivityContext, type WorkflowContext, type WorkflowRuntime } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as history from '../src/workflow/history.ts';
import { activityWorkItem, orchestratorWorkItem, pb, Status, stringValue, type OrchestrationStatus } from '../src/workflow/proto.ts';
import { taskHub, TaskHubClient } from './fixtures/task-hub-client.ts';
import { eventually, startWorkflowTestbed, type WorkflowTestbed } from './workflow-support.ts';

// The Dapr workflow HTTP management API (/v1.0/workflows/dapr/...), QueryInstances over raw gRPC,
// and the engine's spans and metrics, with an OpenTelemetry SDK registered in this process.

/** Collects on demand: the metrics as they are now. */
class TestMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const spans = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
const metricReader = new TestMetricReader();
const meterProvider = new MeterProvider({ readers: [metricReader] });

let bed: WorkflowTestbed;
let runtime: WorkflowRuntime;
let raw: TaskHubClient;

const greet = async (_context: WorkflowActivityContext, name: string) => `hello ${name}`;

async function* greeting(context: WorkflowContext, name: string): AsyncGenerator<unknown, string, string> {
  const first: string = yield context.callActivity(greet, name);
  const second: string = yield context.callActivity(greet, first);
  return second;
}

async function* approval(context: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
  const decision: unknown = yield context.waitForExternalEvent('decision');
  return { decision };
}

async function* parentOfApproval(context: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
  return yield context.callChildWorkflow(approval, undefined, `${context.getWorkflowInstanceId()}-child`);
}

const api = (path: string) => `${bed.sidecar.url}/v1.0/workflows/dapr${path}`;
const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(api(path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

interface Described {
  instanceID: string;
  workflowName: string;
  runtimeStatus: string;
  createdAt: string;
  lastUpdatedAt: string;
  properties: Record<string, string>;
}

async function describeInstance(id: string): Promise<Described> {
  const response = await fetch(api(`/${id}`));
  expect(response.status).toBe(200);
  return (await response.json()) as Described;
}

const untilStatus = (id: string, status: string) =>
  eventually(async () => {
    const response = await fetch(api(`/${id}`));
    if (response.status !== 200) return undefined;
    const body = (await response.json()) as Described;
    return body.runtimeStatus === status ? body : undefined;
  }, `${id} is ${status}`);

const uniqueId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  bed = await startWorkflowTestbed('dapr_workflow_api');
  runtime = bed.newRuntime();
  for (const workflow of [greeting, approval, parentOfApproval]) runtime.registerWorkflow(workflow);
  runtime.registerActivity(greet);
  await runtime.start();
  raw = new TaskHubClient(bed.grpcPort);
}, 30_000);

afterAll(async () => {
  raw?.close();
  await runtime?.stop();
  await bed?.close();
  trace.disable();
  metrics.disable();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
});

describe('the workflow HTTP API', () => {
  it('starts an instance with a given id and input, and describes it as daprd does', async () => {
    const id = uniqueId('http-start');
    const started = await post(`/greeting/start?instanceID=${id}`, 'ada');
    expect(started.status).toBe(202);
    expect(await started.json()).toEqual({ instanceID: id });
    const done = await untilStatus(id, 'COMPLETED');
    expect(done).toMatchObject({ instanceID: id, workflowName: 'greeting', properties: { 'dapr.workflow.input': '"ada"', 'dapr.workflow.output': '"hello hello ada"' } });
    expect(Date.parse(done.createdAt)).toBeLessThanOrEqual(Date.parse(done.lastUpdatedAt));
  });

  it('generates an instance id when none is given', async () => {
    const started = await post('/greeting/start', 'bob');
    expect(started.status).toBe(202);
    const { instanceID } = (await started.json()) as { instanceID: string };
    expect(instanceID).toMatch(/^[0-9a-f-]{36}$/);
    await untilStatus(instanceID, 'COMPLETED');
  });

  it('raises an event, pauses and resumes an instance', async () => {
    const id = uniqueId('http-events');
    await post(`/approval/start?instanceID=${id}`);
    await untilStatus(id, 'RUNNING');
    expect((await post(`/${id}/pause`)).status).toBe(202);
    await untilStatus(id, 'SUSPENDED');
    // Kept in the inbox while suspended, delivered on resume.
    expect((await post(`/${id}/raiseEvent/decision`, { approved: true })).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await describeInstance(id)).runtimeStatus).toBe('SUSPENDED');
    expect((await post(`/${id}/resume`)).status).toBe(202);
    const done = await untilStatus(id, 'COMPLETED');
    expect(JSON.parse(done.properties['dapr.workflow.output'] ?? 'null')).toEqual({ decision: { approved: true } });
  });

  it('terminates an instance with its child workflows, or alone with non_recursive=true', async () => {
    const recursive = uniqueId('http-terminate');
    await post(`/parentOfApproval/start?instanceID=${recursive}`);
    await untilStatus(`${recursive}-child`, 'RUNNING');
    expect((await post(`/${recursive}/terminate`)).status).toBe(202);
    await untilStatus(recursive, 'TERMINATED');
    await untilStatus(`${recursive}-child`, 'TERMINATED');

    const alone = uniqueId('http-terminate-alone');
    await post(`/parentOfApproval/start?instanceID=${alone}`);
    await untilStatus(`${alone}-child`, 'RUNNING');
    expect((await post(`/${alone}/terminate?non_recursive=true`)).status).toBe(202);
    await untilStatus(alone, 'TERMINATED');
    expect((await describeInstance(`${alone}-child`)).runtimeStatus).toBe('RUNNING');
    // The orphaned child still finishes on its own; its parent stays terminated.
    await post(`/${alone}-child/raiseEvent/decision`, 'late');
    await untilStatus(`${alone}-child`, 'COMPLETED');
    expect((await describeInstance(alone)).runtimeStatus).toBe('TERMINATED');
  });

  it('purges a finished instance, which is then unknown', async () => {
    const id = uniqueId('http-purge');
    await post(`/greeting/start?instanceID=${id}`, 'x');
    await untilStatus(id, 'COMPLETED');
    expect((await post(`/${id}/purge`)).status).toBe(202);
    expect((await fetch(api(`/${id}`))).status).toBe(404);
  });

  it("answers errors with daprd's codes, statuses and body shape", async () => {
    const expectError = async (response: Response, status: number, errorCode: string, message: RegExp) => {
      expect(response.status).toBe(status);
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['errorCode', 'message']);
      expect(body['errorCode']).toBe(errorCode);
      expect(body['message']).toMatch(message);
    };
    await expectError(await fetch(api('/no-such-instance')), 404, 'ERR_INSTANCE_ID_NOT_FOUND', /unable to find workflow with the provided instance ID: no-such-instance/);
    await expectError(await post('/no-such-instance/terminate'), 404, 'ERR_INSTANCE_ID_NOT_FOUND', /no-such-instance/);
    await expectError(await post('/no-such-instance/purge'), 404, 'ERR_INSTANCE_ID_NOT_FOUND', /no-such-instance/);
    await expectError(await post('/no-such-instance/raiseEvent/decision', 1), 500, 'ERR_RAISE_EVENT_WORKFLOW', /error raising event on workflow 'no-such-instance'/);
    await expectError(await post('/no-such-instance/pause'), 500, 'ERR_PAUSE_WORKFLOW', /no-such-instance/);
    await expectError(await post('/no-such-instance/resume'), 500, 'ERR_RESUME_WORKFLOW', /no-such-instance/);
    await expectError(await fetch(`${bed.sidecar.url}/v1.0/workflows/temporal/anything`), 400, 'ERR_WORKFLOW_COMPONENT_NOT_FOUND', /workflow component 'temporal' does not exist/);
    await expectError(await post('/greeting/start?instanceID=has%20space', 'x'), 400, 'ERR_INSTANCE_ID_INVALID', /has space/);
    await expectError(await post(`/greeting/start?instanceID=${'x'.repeat(65)}`, 'x'), 400, 'ERR_INSTANCE_ID_TOO_LONG', /64/);

    const running = uniqueId('http-running');
    await post(`/approval/start?instanceID=${running}`);
    await untilStatus(running, 'RUNNING');
    await expectError(await post(`/approval/start?instanceID=${running}`), 500, 'ERR_START_WORKFLOW', /already exists/);
    await expectError(await post(`/${running}/purge`), 500, 'ERR_PURGE_WORKFLOW', /only finished instances can be purged/);
    await post(`/${running}/terminate`);
    await untilStatus(running, 'TERMINATED');
    await expectError(await post(`/${running}/raiseEvent/decision`, 1), 500, 'ERR_RAISE_EVENT_WORKFLOW', /is TERMINATED; it cannot receive events/);
  });
});

describe('QueryInstances over gRPC', () => {
  const query = (options: { statuses?: OrchestrationStatus[]; prefix?: string; pageSize: number; token?: string | undefined }) => {
    const instanceQuery = new pb.InstanceQuery();
    instanceQuery.setRuntimestatusList(options.statuses ?? []);
    instanceQuery.setMaxinstancecount(options.pageSize);
    instanceQuery.setFetchinputsandoutputs(true);
    if (options.prefix) instanceQuery.setInstanceidprefix(stringValue(options.prefix));
    if (options.token) instanceQuery.setContinuationtoken(stringValue(options.token));
    const request = new pb.QueryInstancesRequest();
    request.setQuery(instanceQuery);
    return raw.call(taskHub.queryInstances, request);
  };

  it('filters by status and instance id prefix, and pages with a continuation token', async () => {
    const prefix = uniqueId('query');
    const done = Array.from({ length: 3 }, (_, index) => `${prefix}-done-${index}`);
    const waiting = Array.from({ length: 5 }, (_, index) => `${prefix}-waiting-${index}`);
    for (const id of done) await post(`/greeting/start?instanceID=${id}`, id);
    for (const id of waiting) await post(`/approval/start?instanceID=${id}`);
    await Promise.all([...done.map((id) => untilStatus(id, 'COMPLETED')), ...waiting.map((id) => untilStatus(id, 'RUNNING'))]);

    const completed = await query({ statuses: [Status.ORCHESTRATION_STATUS_COMPLETED], prefix, pageSize: 10 });
    expect(completed.getOrchestrationstateList().map((state) => state.getInstanceid()).sort()).toEqual(done);
    expect(completed.getOrchestrationstateList()[0]?.getOutput()?.getValue()).toMatch(/^"hello hello /);
    expect(completed.getContinuationtoken()).toBeUndefined();

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await query({ statuses: [Status.ORCHESTRATION_STATUS_RUNNING], prefix, pageSize: 2, token });
      expect(page.getOrchestrationstateList().length).toBeLessThanOrEqual(2);
      const ids = page.getOrchestrationstateList().map((state) => state.getInstanceid());
      seen.push(...ids);
      token = page.getContinuationtoken()?.getValue();
      pages += 1;
      if (pages === 1) {
        // Instances already listed stop matching the filter: the next pages must not shift.
        for (const id of ids) await post(`/${id}/terminate`);
        await Promise.all(ids.map((id) => untilStatus(id, 'TERMINATED')));
      }
    } while (token);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(waiting);

    const all = await query({ prefix, pageSize: 100 });
    expect(all.getOrchestrationstateList()).toHaveLength(8);
    await expect(query({ prefix, pageSize: 2, token: 'not-a-token' })).rejects.toThrow(/INVALID_ARGUMENT: invalid continuation token/);
    for (const id of waiting) await post(`/${id}/terminate`);
  });
});

describe('workflow telemetry', () => {
  it("records the workflow and its activities as spans in the starter's trace, and counts started and finished instances", async () => {
    const counter = async (name: string, workflow: string, status?: string) => {
      const { resourceMetrics } = await metricReader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((candidate) => candidate.descriptor.name === name) as SumMetricData | undefined;
      return (metric?.dataPoints ?? [])
        .filter((point) => point.attributes['workflow_name'] === workflow && (status === undefined || point.attributes['status'] === status))
        .reduce((sum, point) => sum + point.value, 0);
    };
    const startedBefore = await counter('dapr_runtime_workflow_started_total', 'greeting');
    const completedBefore = await counter('dapr_runtime_workflow_finished_total', 'greeting', 'COMPLETED');

    const traceId = randomBytes(16).toString('hex');
    const parentSpanId = randomBytes(8).toString('hex');
    const id = uniqueId('traced');
    await post(`/greeting/start?instanceID=${id}`, 'span', { traceparent: `00-${traceId}-${parentSpanId}-01` });
    await untilStatus(id, 'COMPLETED');
    await tracerProvider.forceFlush();

    const inTrace = spans.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
    const workflowSpan = inTrace.find((span) => span.name === 'orchestration||greeting');
    expect(workflowSpan?.parentSpanContext?.spanId).toBe(parentSpanId);
    expect(workflowSpan?.attributes['dapr.workflow.instance_id']).toBe(id);
    expect(workflowSpan?.attributes['dapr.workflow.status']).toBe('COMPLETED');
    const activitySpans = inTrace.filter((span) => span.name === 'activity||greet');
    expect(activitySpans).toHaveLength(2);
    for (const span of activitySpans) expect(span.attributes['dapr.workflow.instance_id']).toBe(id);

    expect(await counter('dapr_runtime_workflow_started_total', 'greeting')).toBe(startedBefore + 1);
    expect(await counter('dapr_runtime_workflow_finished_total', 'greeting', 'COMPLETED')).toBe(completedBefore + 1);
  });

  it('records the latency of every orchestrator step and every activity in histograms', async () => {
    const histogram = async (name: string, match: Record<string, string>) => {
      const { resourceMetrics } = await metricReader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((candidate) => candidate.descriptor.name === name) as HistogramMetricData | undefined;
      const points = (metric?.dataPoints ?? []).filter((point) => Object.entries(match).every(([key, value]) => point.attributes[key] === value));
      return {
        unit: metric?.descriptor.unit,
        count: points.reduce((sum, point) => sum + point.value.count, 0),
        sum: points.reduce((sum, point) => sum + (point.value.sum ?? 0), 0),
        bucketed: points.reduce((sum, point) => sum + point.value.buckets.counts.reduce((a, b) => a + b, 0), 0),
      };
    };
    const steps = () => histogram('dapr_runtime_workflow_step_latency_ms', { app_id: 'workflow-app', workflow_name: 'greeting' });
    const activities = () => histogram('dapr_runtime_workflow_activity_latency_ms', { app_id: 'workflow-app', activity_name: 'greet', status: 'success' });
    const [stepsBefore, activitiesBefore] = [await steps(), await activities()];

    const id = uniqueId('measured');
    await post(`/greeting/start?instanceID=${id}`, 'metrics');
    await untilStatus(id, 'COMPLETED');

    const [stepsAfter, activitiesAfter] = [await steps(), await activities()];
    // greeting: start → first activity, its result → second activity, its result → completion.
    expect(stepsAfter.count - stepsBefore.count).toBe(3);
    expect(activitiesAfter.count - activitiesBefore.count).toBe(2);
    for (const [after, before] of [[stepsAfter, stepsBefore], [activitiesAfter, activitiesBefore]] as const) {
      expect(after.unit).toBe('ms');
      expect(after.bucketed - before.bucketed).toBe(after.count - before.count);
      expect(after.sum - before.sum).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('work items in wire form', () => {
  it('encodes orchestrator and activity work items as the SDK decodes them', () => {
    const past = Array.from({ length: 40 }, (_, index) => history.taskScheduled(index, 'step', 'x'.repeat(index * 10)));
    const newEvents = [history.orchestratorStarted(new Date()), history.eventRaised('größe', 'ünïcode ✓')];
    const bytes = orchestratorWorkItem('order-ü:0001', 'exec-1', past.map(history.encode), newEvents.map(history.encode));
    const request = pb.WorkItem.deserializeBinary(bytes).getOrchestratorrequest();
    expect(request?.getInstanceid()).toBe('order-ü:0001');
    expect(request?.getExecutionid()?.getValue()).toBe('exec-1');
    expect(request?.getPasteventsList().map((event) => event.toObject())).toEqual(past.map((event) => event.toObject()));
    expect(request?.getNeweventsList().map((event) => event.toObject())).toEqual(newEvents.map((event) => event.toObject()));

    const activity = new pb.ActivityRequest();
    activity.setName('charge');
    activity.setTaskid(300);
    activity.setInput(stringValue('y'.repeat(20_000)));
    const decoded = pb.WorkItem.deserializeBinary(activityWorkItem(activity.serializeBinary())).getActivityrequest();
    expect(decoded?.toObject()).toEqual(activity.toObject());
  });
});
