import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace';

// Trace context that has to travel where no instrumentation carries it: into workflow inputs
// (activities run later, from the engine's work stream) and outbox rows (events are published
// later, by the relay). Always W3C traceparent, whatever OTEL_PROPAGATORS says.

const w3c = new W3CTraceContextPropagator();
const tracer = trace.getTracer('agora');
/** The SDK's own id generator: ids as a span would get, without a system call for each. */
const ids = new RandomIdGenerator();

/**
 * This hop's span context where no SDK makes spans: the caller's trace, flags and tracestate (a new
 * sampled trace without a valid caller) and a span id of its own. Nothing is recorded.
 */
export function hopSpanContext(caller: SpanContext | undefined): SpanContext {
  if (caller === undefined || !isSpanContextValid(caller)) return { traceId: ids.generateTraceId(), spanId: ids.generateSpanId(), traceFlags: TraceFlags.SAMPLED };
  return { ...caller, spanId: ids.generateSpanId(), isRemote: false };
}

/** The W3C traceparent of the active span; undefined outside a span or without an SDK. */
export function currentTraceparent(active: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  w3c.inject(active, carrier, defaultTextMapSetter);
  return carrier['traceparent'];
}

/** A context whose parent is the span `traceparent` names; the root context for a missing or malformed one. */
export function contextFromTraceparent(traceparent: string | undefined | null): Context {
  return traceparent ? w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter) : ROOT_CONTEXT;
}

/** trace_id and span_id of the active span, as log lines and metric exemplars carry them. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : undefined;
}

/** The trace id inside a traceparent. */
export function traceIdOf(traceparent: string | undefined | null): string | undefined {
  const spanContext = trace.getSpanContext(contextFromTraceparent(traceparent));
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

export interface SpanOptions {
  /** The parent: a traceparent (work resumed from a stored trace context); the active span when absent. */
  parent?: string | undefined | null;
  kind?: SpanKind;
  attributes?: Attributes;
}

/**
 * Runs `work` in a new active span (so the calls it makes are its children) and ends it; a
 * thrown error is recorded and marks the span failed.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent === undefined ? context.active() : contextFromTraceparent(options.parent);
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes ?? {} }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
