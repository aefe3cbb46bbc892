import { randomBytes } from 'node:crypto';
import { Server, type IncomingMessage } from 'node:http';
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';

// When a process exports no spans, the HTTP instrumentation's server spans are built for nothing.
// This gives each incoming request what they gave that anyone could see: an active trace context
// (the caller's trace, or a new one) with a span id of its own, so that logs and metric exemplars
// carry the trace id and a traceparent propagated by hand names this hop. No span is recorded.

type Emit = (this: Server, event: string | symbol, ...args: unknown[]) => boolean;

let original: Emit | undefined;

function requestContext(request: IncomingMessage) {
  const parent = propagation.extract(ROOT_CONTEXT, request.headers);
  const caller = trace.getSpanContext(parent);
  const valid = caller !== undefined && isSpanContextValid(caller);
  const spanContext = {
    traceId: valid ? caller.traceId : randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: valid ? caller.traceFlags : TraceFlags.SAMPLED,
  };
  return trace.setSpan(parent, trace.wrapSpanContext(spanContext));
}

/** Runs every incoming request of this process's HTTP servers, except `untraced` paths, in its own trace context. */
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
}

/** Undoes propagateRequestContext. */
export function stopPropagatingRequestContext(): void {
  if (original) Server.prototype.emit = original as Server['emit'];
  original = undefined;
}
