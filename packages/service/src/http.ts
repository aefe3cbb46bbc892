import { trace } from '@opentelemetry/api';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { counter, currentTraceparent, histogram, scrape } from '@agora/telemetry';
import { healthDetails, runChecks, unreadyReason, type Readiness } from './health.ts';
import type { Logger } from './logger.ts';

export interface HttpServerOptions {
  logger: Logger;
  /** What /health/ready requires: a function that rejects with the reason when not ready, or named checks. */
  readiness: Readiness;
  bodyLimitBytes?: number;
  /** Serves /health/details for this service: its readiness checks, its sidecar (DAPR_HTTP_PORT) and its reported breakers. */
  health?: { service: string; daprHttpPort?: number | undefined };
  /** Answers some errors a route threw in a form of its own (the gateway's refusals); undefined leaves one to the default. */
  answerError?: (error: FastifyError, reply: FastifyReply) => FastifyReply | undefined;
}

// RED per route: rate and errors from the counter (errors: status_code 5xx), duration from the histogram.
const requests = counter({ name: 'agora_http_requests_total', help: 'HTTP requests answered, by route template and status', labelNames: ['method', 'route', 'status_code'] });
const durations = histogram({ name: 'agora_http_request_duration_seconds', help: 'Time to answer an HTTP request', labelNames: ['method', 'route', 'status_code'] });

/** Probes and scrapes: not operations of the service. */
const UNMEASURED = new Set(['/health/live', '/health/ready', '/health/details', '/metrics']);

/**
 * A Fastify server with the endpoints every app exposes: liveness and readiness, and Prometheus
 * metrics at /metrics (no token, no rate limit). Liveness never checks dependencies (a restart
 * would not fix them); readiness does. With `health`, /health/details (no token, no rate limit)
 * reports the same checks one by one, the sidecar and breakers, always with 200: it is a report
 * read through Dapr invocation, where a 5xx would count against the caller's circuit breaker.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- widens Fastify's logger generic to the default instance type
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Request logs use the server's logger as it is: a pino child per request (Fastify's default,
    // for a reqId binding) runs the redaction of its bindings on every request, and log lines
    // already carry the request's trace id.
    childLoggerFactory: (logger) => logger,
    bodyLimit: options.bodyLimitBytes ?? 1_048_576,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });

  // Fastify answers an error with its message, a 500's too: a route's unexpected error (the
  // database gone under the payment webhook) would show its internals to the caller. Those are
  // logged with their stack and answered without them; 4xx (a malformed body) keep theirs.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answered = options.answerError?.(error, reply);
    if (answered) return answered;
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status < 500) return reply.code(status).send(error);
    request.log.error({ err: error, method: request.method, route: request.routeOptions.url }, 'request failed with an unexpected error');
    return reply.code(status).send({ statusCode: status, error: 'Internal Server Error', message: 'Internal server error' });
  });

  const traceparents = new WeakMap<FastifyRequest, string | undefined>();
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || UNMEASURED.has(route)) return;
    // The HTTP instrumentation names the server span after the method only; the route template is known here.
    trace.getActiveSpan()?.updateName(`${request.method} ${route}`).setAttribute('http.route', route);
    traceparents.set(request, currentTraceparent());
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (UNMEASURED.has(route)) return;
    const labels = { method: request.method, route, status_code: reply.statusCode };
    const traceparent = traceparents.get(request);
    requests.inc(labels, { traceparent });
    durations.observe(labels, reply.elapsedTime / 1000, { traceparent });
  });

  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    const reason = unreadyReason(options.readiness, await runChecks(options.readiness));
    return reason === undefined ? { status: 'ready' } : reply.code(503).send({ status: 'unavailable', reason });
  });
  const health = options.health;
  if (health) {
    app.get('/health/details', async (_request, reply) => {
      const details = await healthDetails({ ...health, readiness: options.readiness });
      return reply.header('cache-control', 'no-store').send(details);
    });
  }
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await scrape();
    return reply.type(contentType).send(body);
  });
  return app;
}
