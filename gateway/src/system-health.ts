import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { AuthenticationError, hasRole, Role, type Caller } from '@agora/auth';
import { audit, ErrorCode, healthDetails, type HealthDetails, type Logger, type Readiness } from '@agora/service';
import { refuseTokenInQuery, type Authenticate } from './authentication.ts';
import type { GatewayEnv } from './env.ts';
import { HttpRefusal, refusalHandler } from './http-errors.ts';

// GET /admin/health: the service health report of docs/adr/0017-service-health-report.md, for the
// operations console. The gateway's own health, then each subgraph's /health/details, fetched the
// way the gateway fetches its GraphQL (through its sidecar or directly).

export const SYSTEM_HEALTH_PATH = '/admin/health';

/** Longer than a service's own deadline for its checks (1.5 s), so that a slow dependency is reported by the service itself. */
const SUBGRAPH_TIMEOUT_MS = 2_000;

export interface SystemHealthOptions {
  /** The gateway's authenticate (createAuthenticate), so that a token is verified once per request. */
  authenticate: Authenticate;
  /** Each subgraph's GraphQL URL as the gateway fetches it, by name, in the order of the report. */
  subgraphUrls: ReadonlyMap<string, string>;
  /** The gateway's own readiness, as its /health/ready runs it. */
  readiness: Readiness;
  env: Pick<GatewayEnv, 'DAPR_HTTP_PORT' | 'BODY_LIMIT_BYTES'>;
  /** Where admin reads of the report are audited. */
  logger: Logger;
  /** The gateway's rate limiter, if the report should count against it. */
  rateLimit?: onRequestAsyncHookHandler;
}

/** A service that did not answer with a report: nothing is known of its checks, sidecar or breakers. */
export interface UnreachableService {
  service: string;
  status: 'down';
  reason: string;
  checks: [];
  sidecar: null;
  breakers: null;
}

export interface SystemHealth {
  checkedAt: string;
  services: (HealthDetails | UnreachableService)[];
}

const breakerState = z.enum(['closed', 'open', 'half-open', 'isolated']);
const healthDetailsSchema = z.object({
  status: z.enum(['up', 'degraded', 'down']),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() })),
  sidecar: z.object({
    status: z.enum(['up', 'down', 'none']),
    detail: z.string().optional(),
    breakers: z.array(z.object({ policy: z.string(), target: z.string(), state: breakerState })).nullable(),
  }),
  breakers: z.array(z.object({ name: z.string(), state: breakerState })),
});

const unreachable = (service: string, reason: string): UnreachableService => ({ service, status: 'down', reason, checks: [], sidecar: null, breakers: null });

async function subgraphHealth(service: string, graphqlUrl: string): Promise<HealthDetails | UnreachableService> {
  // The health path sits beside /graphql, directly or behind the sidecar's invoke path.
  const url = graphqlUrl.replace(/graphql$/, 'health/details');
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(SUBGRAPH_TIMEOUT_MS) });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    return unreachable(service, timedOut ? `no answer within ${SUBGRAPH_TIMEOUT_MS} ms` : `unreachable: ${causeOf(error)}`);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) return unreachable(service, `/health/details answered ${response.status}${daprErrorOf(body)}`);
  const parsed = healthDetailsSchema.safeParse(body);
  if (!parsed.success) return unreachable(service, '/health/details answered something other than a health report');
  return { service, ...parsed.data };
}

/** fetch's own message is "fetch failed"; the reason (ECONNREFUSED…) is its cause. */
function causeOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/** The sidecar's error when invocation failed (the app or its sidecar is down): ` (ERR_DIRECT_INVOKE: …)`. */
function daprErrorOf(body: unknown): string {
  const parsed = z.object({ errorCode: z.string(), message: z.string() }).safeParse(body);
  return parsed.success ? ` (${parsed.data.errorCode}: ${parsed.data.message})` : '';
}

/** The admin behind the request: 401 without a valid token, 403 for anyone else; every verified caller's attempt is audited. */
async function requireAdmin(request: FastifyRequest, options: SystemHealthOptions): Promise<void> {
  let caller: Caller | undefined;
  try {
    caller = await options.authenticate(request);
  } catch (error) {
    if (!(error instanceof AuthenticationError)) throw error;
    throw new HttpRefusal(401, ErrorCode.UNAUTHENTICATED, error.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  if (!caller) throw new HttpRefusal(401, ErrorCode.UNAUTHENTICATED, 'A bearer token is required', { 'www-authenticate': 'Bearer' });
  const allowed = hasRole(caller, Role.ADMIN);
  audit(options.logger, { action: 'gateway.health.read', outcome: allowed ? 'allowed' : 'denied', actor: caller });
  if (!allowed) throw new HttpRefusal(403, ErrorCode.FORBIDDEN, 'This needs the admin role');
}

/**
 * Serves GET /admin/health to admins: the gateway (its readiness, sidecar and breakers), then every
 * subgraph's report. A subgraph that does not answer in time, or not with a report, is `down` with
 * the reason; the answer is 200 whatever the services' states.
 */
export function registerSystemHealth(app: FastifyInstance, options: SystemHealthOptions): void {
  const refuse = refusalHandler(options.env.BODY_LIMIT_BYTES);
  app.route({
    method: 'GET',
    url: SYSTEM_HEALTH_PATH,
    onRequest: [refuseTokenInQuery, ...(options.rateLimit ? [options.rateLimit] : [])],
    // Its own handler rather than the app's, so that refusals keep their shape wherever the route is registered.
    // Anything else goes on to the app's handler (an unexpected error's message is not shown).
    errorHandler: (error, _request, reply) => void (refuse(error, reply) ?? reply.send(error)),
    handler: async (request, reply): Promise<SystemHealth> => {
      void reply.header('cache-control', 'no-store');
      await requireAdmin(request, options);
      const checkedAt = new Date().toISOString();
      const services = await Promise.all([
        healthDetails({ service: 'gateway', readiness: options.readiness, daprHttpPort: options.env.DAPR_HTTP_PORT }),
        ...[...options.subgraphUrls].map(([service, url]) => subgraphHealth(service, url)),
      ]);
      return { checkedAt, services };
    },
  });
}
