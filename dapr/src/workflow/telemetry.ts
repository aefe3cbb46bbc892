import { context, metrics, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Counter, type Histogram, type MeterProvider } from '@opentelemetry/api';
import { parseTraceparent } from '../tracing.ts';

// Spans and metrics of the workflow engine through the OpenTelemetry API: without an SDK
// registered in the process they cost nothing. A workflow's span and its activities' spans are
// children of the trace that started it (the traceparent of the StartInstance call), recorded
// when they end, since a workflow can outlive the process that started it.

const tracer = trace.getTracer('agora-sidecar-workflow');

interface Instruments {
  provider: MeterProvider;
  started: Counter;
  finished: Counter;
  orchestratorLatency: Histogram;
  activityLatency: Histogram;
}

let current: Instruments | undefined;

/**
 * The instruments of the MeterProvider registered now. The metrics API has no proxy provider (the
 * trace API has): instruments made before an SDK is registered would stay no-ops for good.
 */
function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (current?.provider === provider) return current;
  const meter = provider.getMeter('agora-sidecar-workflow');
  current = {
    provider,
    started: meter.createCounter('dapr_runtime_workflow_started_total', { description: 'Workflow instances started' }),
    finished: meter.createCounter('dapr_runtime_workflow_finished_total', { description: 'Workflow instances that reached a final status, by status' }),
    orchestratorLatency: meter.createHistogram('dapr_runtime_workflow_step_latency_ms', { description: 'Time from dispatching an orchestrator step to its completion', unit: 'ms' }),
    activityLatency: meter.createHistogram('dapr_runtime_workflow_activity_latency_ms', { description: 'Time from dispatching an activity to its completion', unit: 'ms' }),
  };
  return current;
}

export interface TraceCarrier {
  traceParent: string | null;
  traceState: string | null;
}

function parentContext(carrier: TraceCarrier): Context {
  const parent = parseTraceparent(carrier.traceParent ?? undefined);
  if (!parent) return context.active();
  return trace.setSpanContext(context.active(), { traceId: parent.traceId, spanId: parent.spanId, traceFlags: Number.parseInt(parent.flags, 16), isRemote: true });
}

function recordSpan(name: string, carrier: TraceCarrier, startTime: Date, attributes: Attributes, error: string | undefined): void {
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime, attributes }, parentContext(carrier));
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}

export const workflowTelemetry = {
  started(appId: string, name: string): void {
    instruments().started.add(1, { app_id: appId, workflow_name: name });
  },

  finished(appId: string, name: string, status: string, carrier: TraceCarrier, createdAt: Date, instanceId: string, error: string | undefined): void {
    instruments().finished.add(1, { app_id: appId, workflow_name: name, status });
    recordSpan(`orchestration||${name}`, carrier, createdAt, { 'dapr.workflow.instance_id': instanceId, 'dapr.workflow.status': status, 'dapr.app_id': appId }, error);
  },

  orchestratorStep(appId: string, name: string, startedAt: number): void {
    instruments().orchestratorLatency.record(Date.now() - startedAt, { app_id: appId, workflow_name: name });
  },

  activity(appId: string, name: string, carrier: TraceCarrier, startedAt: number, instanceId: string, taskId: number, error: string | undefined): void {
    instruments().activityLatency.record(Date.now() - startedAt, { app_id: appId, activity_name: name, status: error === undefined ? 'success' : 'failed' });
    recordSpan(`activity||${name}`, carrier, new Date(startedAt), { 'dapr.workflow.instance_id': instanceId, 'dapr.workflow.task_id': taskId, 'dapr.app_id': appId }, error);
  },
};
