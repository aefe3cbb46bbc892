import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { SpanKind, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SidecarContext } from '../context.ts';
import { sendDaprError } from '../http/dapr-error.ts';
import { contextFrom, endSpan, startSpan, traceHeaders } from '../tracing.ts';

// Service invocation: /v1.0/invoke/{app-id}/method/{method} for any HTTP method, and the
// `dapr-app-id` header form where the request path is the method. The caller's sidecar applies
// the target's resiliency policy and forwards to the target's sidecar on the internal CallLocal
// route, which calls its app once, without a policy: daprd applies `targets.apps` in the caller's
// HTTP API only (pkg/api/http/directmessaging.go), and its CallLocal (pkg/api/grpc/daprinternal.go)
// goes straight to the app channel; applying it on both sides would multiply the attempts.
// Spans as daprd names them: a client span `CallLocal/{app-id}/{method}` in the caller's sidecar,
// a server span of the same name in the target's, each the parent of the next hop's traceparent.

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'host', 'content-length']);
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
/** Keep-alive connections to apps and other sidecars: node:http costs less CPU per call than fetch. */
const agent = new Agent({ keepAlive: true });
/** Sidecar to sidecar only (daprd's internal gRPC CallLocal); apps use /v1.0/invoke. */
const CALL_LOCAL_PREFIX = '/v1.0-internal/calllocal/';

/** Who the request came from: an app through the Dapr API, or the caller's sidecar (CallLocal). */
type Role = 'api' | 'callLocal';

export function registerInvocationApi(app: FastifyInstance, context: SidecarContext): void {
  app.route<{ Params: { appId: string; '*': string } }>({
    method: [...METHODS],
    url: '/v1.0/invoke/:appId/method/*',
    handler: (request, reply) => invoke(context, request, reply, request.params.appId, request.params['*'], 'api'),
  });
  app.route<{ Params: { appId: string; '*': string } }>({
    method: [...METHODS],
    url: `${CALL_LOCAL_PREFIX}:appId/*`,
    handler: (request, reply) => invoke(context, request, reply, request.params.appId, request.params['*'], 'callLocal'),
  });
  // The header form: any other path with a dapr-app-id header.
  app.addHook('preHandler', async (request, reply) => {
    const target = request.headers['dapr-app-id'];
    if (typeof target !== 'string' || request.url.startsWith('/v1.0/invoke/') || request.url.startsWith(CALL_LOCAL_PREFIX)) return;
    const path = request.url.split('?')[0]?.replace(/^\//, '') ?? '';
    await invoke(context, request, reply, target, path, 'api');
  });
}

async function invoke(context: SidecarContext, request: FastifyRequest, reply: FastifyReply, target: string, method: string, role: Role): Promise<FastifyReply> {
  // daprd accepts `app-id.namespace`; one launch is one namespace.
  const appId = target.split('.')[0] ?? target;
  const toOwnApp = appId === context.appId;
  if (role === 'callLocal' && !toOwnApp) {
    return sendDaprError(reply, 500, 'ERR_DIRECT_INVOKE', `failed to invoke, id: ${appId}, err: this is the sidecar of ${context.appId}`);
  }
  const span = startSpan(`CallLocal/${appId}/${method}`, toOwnApp ? SpanKind.SERVER : SpanKind.CLIENT, contextFrom(request.headers), {
    'rpc.service': 'ServiceInvocation',
    'net.peer.name': appId,
    'dapr.api': `${request.method} ${request.url.split('?')[0] ?? ''}`,
    'dapr.protocol': 'http',
  });
  try {
    const answered = await forward(context, request, reply, appId, method, span, role);
    endSpan(span, { status: reply.statusCode });
    return answered;
  } catch (error) {
    endSpan(span, { error });
    throw error;
  }
}

async function forward(context: SidecarContext, request: FastifyRequest, reply: FastifyReply, appId: string, method: string, span: Span, role: Role): Promise<FastifyReply> {
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  const destination = destinationOf(context, appId, method, query);
  if (!destination) return sendDaprError(reply, 500, 'ERR_DIRECT_INVOKE', `failed to invoke, id: ${appId}, err: app id ${appId} is not known to this sidecar`);

  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (HOP_BY_HOP.has(name) || name === 'dapr-app-id' || name === 'traceparent' || name === 'tracestate' || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  Object.assign(headers, traceHeaders(span));
  // As daprd's SourceIDHeader: the caller's sidecar states its own id; the target's relays it.
  const caller = role === 'callLocal' ? request.headers['dapr-caller-app-id']?.toString() : undefined;
  headers['dapr-caller-app-id'] = caller ?? context.appId;
  headers['dapr-callee-app-id'] = appId;
  const body = request.method === 'GET' || request.method === 'HEAD' || !Buffer.isBuffer(request.body) ? undefined : request.body;
  if (body) headers['content-length'] = body.length;

  try {
    const attempt = async (signal: AbortSignal) => {
      const answer = await send(destination, request.method, headers, body, signal);
      // A 5xx from the app counts as a failure for retries and breakers, as in daprd's resiliency.
      if (answer.status >= 500) throw new UpstreamError(answer.status, answer.body, answer.headers);
      return answer;
    };
    const response = role === 'callLocal' ? await attempt(abortedWhenCallerLeaves(reply)) : await context.resiliency.forApp(appId).execute(attempt);
    return await relay(reply, response.status, response.headers, response.body);
  } catch (error) {
    if (error instanceof UpstreamError) return relay(reply, error.status, error.headers, error.body);
    const reason = error instanceof Error ? error.message : String(error);
    context.logger.warn({ appId, method, err: error }, 'service invocation failed');
    return sendDaprError(reply, 500, 'ERR_DIRECT_INVOKE', `failed to invoke, id: ${appId}, err: ${reason}`);
  }
}

/** This app's own port when it is the target, else the target app's sidecar. */
function destinationOf(context: SidecarContext, appId: string, method: string, query: string): string | undefined {
  if (appId === context.appId) {
    return context.app.port === undefined ? undefined : `http://${context.app.host}:${context.app.port}/${method}${query}`;
  }
  const peer = context.peers.get(appId);
  return peer ? `${peer}${CALL_LOCAL_PREFIX}${appId}/${method}${query}` : undefined;
}

/** Aborts when the caller's sidecar gives up on the request (its timeout), as a cancelled gRPC context does. */
function abortedWhenCallerLeaves(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the caller went away'));
  });
  return controller.signal;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP call, its answer read whole; `signal` aborts it. Redirects are relayed, not followed. */
function send(url: string, method: string, headers: OutgoingHttpHeaders, body: Buffer | undefined, signal: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const outgoing = httpRequest(url, { method, headers, agent, signal }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 502, headers: incoming.headers, body: Buffer.concat(chunks) }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function relay(reply: FastifyReply, status: number, headers: IncomingHttpHeaders, body: Buffer): FastifyReply {
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) void reply.header(name, value);
  return reply.code(status).send(body);
}

class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly status: number;
  readonly body: Buffer;
  readonly headers: IncomingHttpHeaders;

  constructor(status: number, body: Buffer, headers: IncomingHttpHeaders) {
    super(`app answered ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}
