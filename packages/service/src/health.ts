// The service health report (docs/adr/0017-service-health-report.md): what /health/details answers
// and what the gateway's /admin/health gathers from every app.

/** What /health/ready requires: one check, or named checks (a live map: checks added later count). Each rejects when its dependency is down. */
export type Readiness = (() => Promise<void>) | ReadonlyMap<string, () => Promise<void>>;

export interface HealthCheck {
  name: string;
  ok: boolean;
  /** Why the check failed. */
  detail?: string;
}

/** gobreaker's (daprd's) state names; `isolated` is a breaker the local sidecar holds open by hand. */
export type CircuitBreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

export interface CircuitBreakerHealth {
  name: string;
  state: CircuitBreakerState;
}

/** A breaker of the app's sidecar (resiliency `circuitBreakers` policy on a target). */
export interface SidecarBreakerHealth {
  policy: string;
  /** `app[<app id>]` or `component[<name>]`. */
  target: string;
  state: CircuitBreakerState;
}

export interface SidecarHealth {
  /** `none`: the app runs without a sidecar (no DAPR_HTTP_PORT). */
  status: 'up' | 'down' | 'none';
  detail?: string;
  /** Null when not reported: no sidecar, a sidecar that is down, or daprd (which has only the `dapr_resiliency_cb_state` metric). */
  breakers: SidecarBreakerHealth[] | null;
}

export interface HealthDetails {
  service: string;
  /** `down`: a readiness check fails; `degraded`: ready, but its sidecar is down or a breaker is not closed. */
  status: 'up' | 'degraded' | 'down';
  checks: HealthCheck[];
  sidecar: SidecarHealth;
  breakers: CircuitBreakerHealth[];
}

export interface HealthDetailsOptions {
  service: string;
  readiness: Readiness;
  /** The app's sidecar (DAPR_HTTP_PORT); none without it. */
  daprHttpPort?: number | undefined;
}

/** A check, or the sidecar, that has not answered by then is reported as failed: the report itself must answer. */
const DETAILS_TIMEOUT_MS = 1_500;

const reportedBreakers = new Map<string, () => CircuitBreakerState>();

/**
 * Adds an in-process circuit breaker to this process's health report, read when a report is made
 * (a later one of the same name replaces it). Process-wide, like the metrics registry: one app per process.
 */
export function reportCircuitBreaker(name: string, state: () => CircuitBreakerState): void {
  reportedBreakers.set(name, state);
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** fetch's own message is "fetch failed"; the reason (ECONNREFUSED…) is its cause. */
function fetchFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return messageOf(error instanceof Error && error.cause instanceof Error ? error.cause : error);
}

function withDeadline(check: () => Promise<void>, timeoutMs: number | undefined): Promise<void> {
  if (timeoutMs === undefined) return check();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([check(), deadline]).finally(() => clearTimeout(timer));
}

/** Runs every readiness check at once; one result per check (a single function is one check named `readiness`). */
export async function runChecks(readiness: Readiness, timeoutMs?: number): Promise<HealthCheck[]> {
  const checks = typeof readiness === 'function' ? [['readiness', readiness] as const] : [...readiness];
  const results = await Promise.allSettled(checks.map(([, check]) => withDeadline(check, timeoutMs)));
  return checks.map(([name], index) => {
    const result = results[index];
    return result?.status === 'rejected' ? { name, ok: false, detail: messageOf(result.reason) } : { name, ok: true };
  });
}

/** Why readiness fails, as /health/ready has always said it: the error of a single check, or `name: reason` per failed check. */
export function unreadyReason(readiness: Readiness, checks: readonly HealthCheck[]): string | undefined {
  const failed = checks.filter((check) => !check.ok);
  if (failed.length === 0) return undefined;
  if (typeof readiness === 'function') return failed[0]?.detail ?? 'not ready';
  return failed.map((check) => `${check.name}: ${check.detail ?? 'down'}`).join('; ');
}

const STATES: ReadonlySet<string> = new Set<CircuitBreakerState>(['closed', 'open', 'half-open', 'isolated']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The local sidecar's `resiliency.circuitBreakers` metadata extension; null when absent or not in the expected shape (daprd). */
function sidecarBreakersOf(metadata: unknown): SidecarBreakerHealth[] | null {
  const listed = isRecord(metadata) && isRecord(metadata['resiliency']) ? metadata['resiliency']['circuitBreakers'] : undefined;
  if (!Array.isArray(listed)) return null;
  const breakers: SidecarBreakerHealth[] = [];
  for (const entry of listed) {
    if (!isRecord(entry)) return null;
    const { policy, target, state } = entry;
    if (typeof policy !== 'string' || typeof target !== 'string' || typeof state !== 'string' || !STATES.has(state)) return null;
    breakers.push({ policy, target, state: state as CircuitBreakerState });
  }
  return breakers;
}

/** The app's own sidecar: up when /v1.0/healthz answers 2xx; its breakers from /v1.0/metadata when it reports them. */
export async function sidecarHealth(daprHttpPort: number | undefined, timeoutMs = DETAILS_TIMEOUT_MS): Promise<SidecarHealth> {
  if (daprHttpPort === undefined) return { status: 'none', breakers: null };
  const base = `http://127.0.0.1:${daprHttpPort}/v1.0`;
  const signal = AbortSignal.timeout(timeoutMs);
  const [healthz, metadata] = await Promise.allSettled([
    fetch(`${base}/healthz`, { signal }),
    fetch(`${base}/metadata`, { signal }).then(async (response) => (response.ok ? await response.json() : undefined)),
  ]);
  if (healthz.status === 'rejected') return { status: 'down', detail: fetchFailure(healthz.reason, timeoutMs), breakers: null };
  await healthz.value.body?.cancel();
  if (!healthz.value.ok) return { status: 'down', detail: `/v1.0/healthz answered ${healthz.value.status}`, breakers: null };
  return { status: 'up', breakers: metadata.status === 'fulfilled' ? sidecarBreakersOf(metadata.value) : null };
}

/** This process's health report: readiness checks, its sidecar and every breaker it reports, all read now. */
export async function healthDetails(options: HealthDetailsOptions): Promise<HealthDetails> {
  const [checks, sidecar] = await Promise.all([runChecks(options.readiness, DETAILS_TIMEOUT_MS), sidecarHealth(options.daprHttpPort)]);
  const breakers = [...reportedBreakers].map(([name, state]) => ({ name, state: state() }));
  const open = breakers.some((breaker) => breaker.state !== 'closed') || (sidecar.breakers ?? []).some((breaker) => breaker.state !== 'closed');
  const status = checks.some((check) => !check.ok) ? 'down' : sidecar.status === 'down' || open ? 'degraded' : 'up';
  return { service: options.service, status, checks, sidecar, breakers };
}
