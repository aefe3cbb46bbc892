import {
  ROOT_CONTEXT,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { hopSpanContext } from '@agora/telemetry';

// W3C Trace Context (https://www.w3.org/TR/trace-context/) and one span per sidecar hop, through the
// OpenTelemetry API: a process that registers an SDK gets the spans; without one nothing is
// recorded, but each hop still continues the caller's trace with a span id of its own (daprd
// generates ids even when it does not sample), or starts a trace when the request carries none.

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

export function parseTraceparent(header: string | undefined): TraceContext | undefined {
  const match = header ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  if (!match?.[2] || !match[3] || !match[4] || match[1] === 'ff') return undefined;
  if (/^0+$/.test(match[2]) || /^0+$/.test(match[3])) return undefined;
  return { traceId: match[2], spanId: match[3], flags: match[4] };
}

const tracer = trace.getTracer('agora-sidecar');
const w3c = new W3CTraceContextPropagator();

/** The caller's trace from `traceparent` and `tracestate` (headers, or CloudEvent members); the root context without a valid one. */
export const contextFrom = (carrier: Record<string, unknown>): Context => w3c.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);

/** Starts this hop's span as a child of `parent`; end it with endSpan. */
export function startSpan(name: string, kind: SpanKind, parent: Context, attributes: Attributes = {}): Span {
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  const own = span.spanContext();
  const caller = trace.getSpanContext(parent);
  if (isSpanContextValid(own) && own.spanId !== caller?.spanId) return span;
  // No SDK: the API hands back the caller's context (or an invalid one); give the hop its own id.
  return trace.wrapSpanContext(hopSpanContext(caller));
}

/** The `traceparent` (and `tracestate`) headers that carry the trace on from `span` to the next hop. */
export function traceHeaders(span: Span): Record<string, string> {
  const headers: Record<string, string> = {};
  w3c.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
  return headers;
}

/** Ends the span with daprd's status rule: an HTTP status of 400 or more, or an error, marks it failed. */
export function endSpan(span: Span, outcome: { status: number } | { error: unknown }): void {
  if ('status' in outcome) {
    span.setAttribute('dapr.status_code', String(outcome.status));
    if (outcome.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: `Code(${outcome.status})` });
  } else {
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error instanceof Error ? outcome.error.message : String(outcome.error) });
  }
  span.end();
}
