import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Server, type ClientRequest, type IncomingMessage } from 'node:http';
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { hopSpanContext } from './trace.ts';

// When a process exports no spans, the HTTP, fetch and database instrumentations build spans for
// nothing. This gives each incoming request what they gave that anyone could see: an active trace
// context (the caller's trace, or a new one) with a span id of its own, so that logs and metric
// exemplars carry the trace id; and each outgoing request made inside it (node:http or fetch) a
// traceparent naming this hop, so the next service logs the same trace. No span is recorded.

type Emit = (this: Server, event: string | symbol, ...args: unknown[]) => boolean;

let original: Emit | undefined;

function requestContext(request: IncomingMessage) {
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  return trace.setSpan(parent, trace.wrapSpanContext(hopSpanContext(trace.getSpanContext(parent))));
}

/** The trace headers (traceparent, tracestate) for a request made now: none outside a trace. */
function outgoingHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const active = context.active();
  const spanContext = trace.getSpanContext(active);
  if (spanContext && isSpanContextValid(spanContext)) propagation.inject(active, headers);
  return headers;
}

/** A node:http request as it is created, before its headers are written. */
function onHttpRequest(message: unknown): void {
  const request = (message as { request: ClientRequest }).request;
  if (request.hasHeader('traceparent')) return;
  try {
    for (const [name, value] of Object.entries(outgoingHeaders())) request.setHeader(name, value);
  } catch {
    // Headers given as a raw array are written at creation: such a request goes without.
  }
}

/** An undici (fetch) request as it is created: its headers are a flat [name, value, …] list or a raw string. */
interface UndiciRequest {
  headers: string[] | string;
  addHeader(name: string, value: string): unknown;
}
function onFetchRequest(message: unknown): void {
  const request = (message as { request: UndiciRequest }).request;
  const present = Array.isArray(request.headers) ? request.headers.some((value, index) => index % 2 === 0 && value.toLowerCase() === 'traceparent') : /(^|\r\n)traceparent:/i.test(request.headers);
  if (present) return;
  for (const [name, value] of Object.entries(outgoingHeaders())) request.addHeader(name, value);
}

const HTTP_CLIENT_CREATED = 'http.client.request.created';
const UNDICI_CREATED = 'undici:request:create';

/**
 * Runs every incoming request of this process's HTTP servers, except `untraced` paths, in its own
 * trace context, and hands that context on to the requests made inside it.
 */
export function propagateRequestContext(untraced: RegExp): void {
  if (original) return;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the server as `this` below
  const emit = Server.prototype.emit as Emit;
  original = emit;
  const patched: Emit = function (event, ...args) {
    const request = args[0] as IncomingMessage | undefined;
    if (event !== 'request' || request === undefined || untraced.test(request.url ?? '')) return emit.call(this, event, ...args);
    return context.with(requestContext(request), () => emit.call(this, event, ...args));
  };
  Server.prototype.emit = patched as Server['emit'];
  subscribe(HTTP_CLIENT_CREATED, onHttpRequest);
  subscribe(UNDICI_CREATED, onFetchRequest);
}

/** Undoes propagateRequestContext. */
export function stopPropagatingRequestContext(): void {
  if (original) Server.prototype.emit = original as Server['emit'];
  original = undefined;
  unsubscribe(HTTP_CLIENT_CREATED, onHttpRequest);
  unsubscribe(UNDICI_CREATED, onFetchRequest);
}
