import { GraphQLInstrumentation } from '@opentelemetry/instrumentation-graphql';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { context, propagation, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { collectDefaultMetrics } from 'prom-client';
import { registry } from './metrics.ts';
import { propagateRequestContext, stopPropagatingRequestContext } from './request-context.ts';

// The OpenTelemetry SDK of an Agora process (docs/adr/0013-telemetry.md). The exporter comes from
// the standard OTEL_* variables, read by the SDK itself; without an OTLP endpoint nothing is
// exported, but spans are still made, so logs carry trace ids and traceparent still propagates.

export interface TelemetryOptions {
  /** service.name, unless OTEL_SERVICE_NAME names it. */
  serviceName: string;
  /**
   * Patch the libraries (http, fetch, pg, gRPC, ioredis, GraphQL): on for the apps. Off in a
   * process that only hosts sidecars, which record their own spans and set traceparent themselves
   * (a patched fetch would add a second one).
   */
  instrumentations?: boolean;
  /** Replaces the exporter chosen from OTEL_* (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

export interface Telemetry {
  /** Flushes and stops exporting; call it last when the process stops. */
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

const set = (value: string | undefined): boolean => value !== undefined && value.trim() !== '';

/**
 * Whether OTEL_* asks for trace export: an exporter named (OTEL_TRACES_EXPORTER, including
 * `none` and `console`) or an OTLP endpoint given. The SDK's own default (OTLP to localhost:4318)
 * would fail on every batch on a machine without a collector.
 */
export function tracesExportConfigured(env: Env): boolean {
  return set(env['OTEL_TRACES_EXPORTER']) || set(env['OTEL_EXPORTER_OTLP_ENDPOINT']) || set(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/** The gRPC methods of the workflow worker's long-lived stream and its completions: not requests of anyone. */
const WORKER_METHODS = /^(hello|getWorkItems|completeActivityTask|completeOrchestratorTask|completeEntityTask|abandonTask\w*)$/i;
/** Probes and scrapes are not requests worth a trace. */
const UNTRACED_PATHS = /^\/(health\/|metrics(\?|$)|v1\.0\/healthz)/;

function libraryInstrumentations() {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
      // Background work (outbox polling, readiness checks of other services) starts no traces of its own.
      requireParentforOutgoingSpans: true,
    }),
    new UndiciInstrumentation({ requireParentforSpans: true }),
    new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
    new GrpcInstrumentation({ ignoreGrpcMethods: [WORKER_METHODS] }),
    new IORedisInstrumentation({ requireParentSpan: true }),
    // parse, validate and execute (named after the operation); a span per resolver would drown them.
    new GraphQLInstrumentation({ ignoreResolveSpans: true }),
  ];
}

let defaultMetricsCollected = false;
let running: { sdk: NodeSDK; stopped: Promise<void> | undefined } | undefined;

/**
 * Starts the SDK once per process: call it before the instrumented libraries are loaded (each
 * app's src/telemetry.ts, imported first by its index.ts). A second call returns the first.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (!running) {
    const env: Env = process.env;
    const serviceName = set(env['OTEL_SERVICE_NAME']) ? (env['OTEL_SERVICE_NAME'] as string) : options.serviceName;
    const exporting = options.spanProcessors !== undefined || tracesExportConfigured(env);
    const spanProcessors = options.spanProcessors ?? (exporting ? undefined : [new NoopSpanProcessor()]);
    const sdk = new NodeSDK({
      serviceName,
      ...(spanProcessors ? { spanProcessors } : {}),
      // Metrics are scraped from /metrics (prom-client) and logs read from stdout: neither is pushed over OTLP.
      metricReaders: [],
      logRecordProcessors: [],
      // Nothing exported: no library is patched (its spans would cost CPU for no one); each incoming
      // HTTP request still runs in a trace context of its own, handed on to the node:http and fetch
      // requests made inside it (request-context.ts), so logs keep one trace id across services (ADR 0022).
      instrumentations: options.instrumentations === false || !exporting ? [] : libraryInstrumentations(),
    });
    sdk.start();
    if (!exporting && options.instrumentations !== false) propagateRequestContext(UNTRACED_PATHS);
    registry.setDefaultLabels({ service: serviceName });
    if (!defaultMetricsCollected) collectDefaultMetrics({ register: registry });
    defaultMetricsCollected = true;
    running = { sdk, stopped: undefined };
  }
  return { shutdown: shutdownTelemetry };
}

/** Flushes pending spans and stops the SDK; nothing when it was never started. */
export function shutdownTelemetry(): Promise<void> {
  if (!running) return Promise.resolve();
  running.stopped ??= running.sdk.shutdown().catch(() => undefined);
  return running.stopped;
}

/**
 * Stops the SDK and unregisters it from the OpenTelemetry API, so that this process can start
 * another (tests: the API's registrations are process-wide and refuse a second one).
 */
export async function resetTelemetry(): Promise<void> {
  await shutdownTelemetry();
  stopPropagatingRequestContext();
  trace.disable();
  context.disable();
  propagation.disable();
  running = undefined;
}
