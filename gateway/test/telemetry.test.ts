import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordGrant } from '@agora/keycloak';
import { launch, type RunningSystem } from '@agora/launcher';
import { recordSpansInMemory, type SpanRecorder } from '@agora/telemetry';
import { dropDatabases, testServerUrl } from '@agora/testing';
import { parseOpenMetrics, type MetricFamily, type Sample } from './saga-openmetrics.ts';

// One order through the whole system, as `npm start` runs it, and its telemetry: every app
// exports its spans over OTLP/HTTP (JSON) to a receiver in this test; the sidecars and the workflow
// engine, hosted in this process as the launcher hosts them, record theirs in memory. One trace
// must hold it all, and the apps' logs and metrics must name it.

const runFile = fileURLToPath(new URL('../../dapr/dapr.yaml', import.meta.url));
const prefix = `otel_${randomBytes(3).toString('hex')}`;
const KEYBOARD = '7c0a1000-0000-4000-8000-000000000001';

/** A span as this test sees it, from OTLP JSON (the apps) or the in-memory exporter (sidecars, engine). */
interface SeenSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
}

// The parts of OTLP/JSON (opentelemetry-proto's ExportTraceServiceRequest) read here.
interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
}
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: OtlpValue }[] }[] }[];
  }[];
}

const valueOf = (value: OtlpValue): unknown => value.stringValue ?? value.intValue ?? value.boolValue;
const attributesOf = (list: { key: string; value: OtlpValue }[] = []) => Object.fromEntries(list.map(({ key, value }) => [key, valueOf(value)]));

const exported: SeenSpan[] = [];
const logLines: { app: string; line: Record<string, unknown> }[] = [];
let receiver: Server;
let recorder: SpanRecorder;
let system: RunningSystem;

/** The OTLP/HTTP traces endpoint of a collector, reduced to keeping what it is sent. */
function startReceiver(): Promise<string> {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces;
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name']);
          for (const span of (resourceSpans.scopeSpans ?? []).flatMap((scope) => scope.spans ?? [])) {
            exported.push({ service, name: span.name, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId || undefined, attributes: attributesOf(span.attributes) });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => receiver.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(receiver.address() as { port: number }).port}`)));
}

async function allSpans(): Promise<SeenSpan[]> {
  const inProcess = (await recorder.spans()).map(
    (span): SeenSpan => ({
      service: 'dapr-sidecar',
      name: span.name,
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      attributes: { ...span.attributes },
    }),
  );
  return [...exported, ...inProcess];
}

async function eventually<T>(read: () => T | Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  recorder = recordSpansInMemory('dapr-sidecar');
  const endpoint = await startReceiver();
  system = await launch({
    runFile,
    dataDir: '/nonexistent',
    databaseUrl: testServerUrl().href,
    databasePrefix: prefix,
    ports: 'auto',
    extraEnv: {
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      // /metrics must stay reachable for anonymous scrapers however low the anonymous limit is.
      RATE_LIMIT_ANONYMOUS_MAX: '2',
    },
    onEvent: (event) => {
      if (event.type !== 'log' || !event.line.startsWith('{')) return;
      try {
        logLines.push({ app: event.app, line: JSON.parse(event.line) as Record<string, unknown> });
      } catch {
        // not a JSON log line
      }
    },
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await recorder?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  await dropDatabases(['users', 'inventory', 'orders', 'payments', 'dapr'].map((name) => `${prefix}_agora_${name}`));
});

const appUrl = (id: string, path: string) => new URL(path, system.apps.find((app) => app.id === id)?.url ?? '').href;

async function graphql<T>(token: string, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(system.gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const { data, errors } = (await response.json()) as { data?: T; errors?: unknown[] };
  if (errors) throw new Error(`GraphQL errors: ${JSON.stringify(errors)}`);
  return data as T;
}

describe('one order, one trace', () => {
  const traceId = randomBytes(16).toString('hex');
  let orderId: string;

  beforeAll(async () => {
    const token = (await passwordGrant({ issuer: system.issuer, clientId: 'agora-cli', username: 'alice', password: 'alice-dev-password' })).accessToken;
    await graphql(token, 'mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { itemCount } }', { p: KEYBOARD });
    // The caller starts the trace, as a browser or another service with OpenTelemetry would.
    const placed = await graphql<{ placeOrder: { id: string } }>(
      token,
      'mutation TelemetryPlaceOrder($key: String!) { placeOrder(input: { paymentMethod: "pm_card_visa" }, idempotencyKey: $key) { id } }',
      { key: randomUUID() },
      { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    );
    orderId = placed.placeOrder.id;
    await eventually(
      () => graphql<{ order: { saga: { runtimeStatus: string | null } } }>(token, 'query($id: ID!) { order(id: $id) { saga { runtimeStatus } } }', { id: orderId }),
      ({ order }) => order.saga.runtimeStatus === 'COMPLETED',
      'the saga has completed',
    );
  }, 60_000);

  const inTrace = async () => (await allSpans()).filter((span) => span.traceId === traceId);

  it('holds the gateway, orders, inventory and payments spans, the sidecar hops, the workflow and its activities', async () => {
    const activities = ['reserveStock', 'chargePayment', 'confirmOrder', 'commitStock'];
    const spans = await eventually(
      inTrace,
      (seen) => seen.some((span) => span.name === 'orchestration||OrderSaga') && activities.every((name) => seen.some((span) => span.name === `activity ${name}`)),
      'the workflow and every activity have been exported',
    );
    const services = new Set(spans.map((span) => span.service));
    expect([...services].sort()).toEqual(expect.arrayContaining(['dapr-sidecar', 'gateway', 'inventory', 'orders', 'payments']));
    const names = (service: string) => spans.filter((span) => span.service === service).map((span) => span.name);

    // The workflow engine's spans, and the app's span per activity around the participant calls.
    for (const name of activities) {
      expect(names('dapr-sidecar')).toContain(`activity||${name}`);
      expect(names('orders')).toContain(`activity ${name}`);
    }
    // Service invocation through both sidecars, the participants' tRPC endpoints and their queries.
    expect(names('dapr-sidecar')).toEqual(expect.arrayContaining(['CallLocal/orders/graphql', 'CallLocal/inventory/trpc/reserve', 'CallLocal/payments/trpc/charge']));
    expect(names('inventory')).toContain('POST /trpc/:path');
    expect(names('payments')).toContain('POST /trpc/:path');
    for (const service of ['orders', 'inventory', 'payments']) {
      expect(spans.some((span) => span.service === service && (span.attributes['db.system.name'] ?? span.attributes['db.system']) === 'postgresql'), `${service} queries`).toBe(true);
    }
    expect(names('gateway')).toContain('POST /');
    expect(spans.find((span) => span.service === 'gateway' && span.name === 'POST /')?.attributes['graphql.operation.name']).toBe('TelemetryPlaceOrder');

    // One tree: every span's parent is in the trace, except the root's (the caller's span, not
    // exported). Parents end after their children, so a moment may pass until the last one is in.
    const orphans = async () => {
      const current = await inTrace();
      const ids = new Set(current.map((span) => span.spanId));
      return current.filter((span) => span.parentSpanId !== undefined && !ids.has(span.parentSpanId)).map((span) => `${span.service} ${span.name}`);
    };
    await eventually(orphans, (found) => found.length === 1, 'every parent has been exported', 5_000).catch(() => undefined);
    expect(await orphans()).toEqual(['gateway POST /']);
  });

  it('puts the trace id on the log lines written inside it', async () => {
    const lines = await eventually(
      () => logLines.filter(({ line }) => line['trace_id'] === traceId),
      (found) => found.some(({ app, line }) => app === 'orders' && line['msg'] === 'saga step succeeded'),
      'orders has logged the saga steps',
    );
    // Each line names a span of the trace (some may still be on their way to the receiver).
    const unknownSpans = async () => {
      const spanIds = new Set((await inTrace()).map((span) => span.spanId));
      return lines.filter(({ line }) => !spanIds.has(String(line['span_id']))).map(({ app, line }) => `${app}: ${String(line['msg'])}`);
    };
    await eventually(unknownSpans, (unknown) => unknown.length === 0, 'the spans of the logged lines are exported', 5_000).catch(() => undefined);
    expect(await unknownSpans()).toEqual([]);
  });

  it('puts the trace id on the metrics it counted, served on each app port without a token or rate limit', async () => {
    const scrape = async (id: string) => {
      const response = await fetch(appUrl(id, '/metrics'));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('application/openmetrics-text');
      return parseOpenMetrics(await response.text());
    };
    /** The one sample of `name` with these labels (among others). */
    const sample = (families: Map<string, MetricFamily>, name: string, labels: Record<string, string>): Sample => {
      const found = [...families.values()].flatMap((family) => family.samples).filter((candidate) => candidate.name === name && Object.entries(labels).every(([key, value]) => candidate.labels[key] === value));
      expect(found, `${name}${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0]!;
    };
    const exemplarTrace = (found: Sample) => found.exemplar?.labels['trace_id'];

    const orders = await scrape('orders');
    expect(exemplarTrace(sample(orders, 'agora_saga_started_total', { service: 'orders' }))).toBe(traceId);
    expect(exemplarTrace(sample(orders, 'agora_saga_completed_total', { service: 'orders' }))).toBe(traceId);
    expect(sample(orders, 'agora_saga_completed_total', { service: 'orders' }).value).toBe(1);
    // This file's one order confirmed: nothing compensated or failed.
    expect(sample(orders, 'agora_saga_compensated_total', { service: 'orders' }).value).toBe(0);
    expect(sample(orders, 'agora_saga_failed_total', { service: 'orders' }).value).toBe(0);
    expect(sample(orders, 'agora_saga_duration_seconds_count', { service: 'orders', outcome: 'completed' }).value).toBeGreaterThanOrEqual(1);
    sample(orders, 'agora_outbox_unsent_events', { producer: 'orders' });
    sample(orders, 'agora_outbox_oldest_unsent_age_seconds', { producer: 'orders' });

    for (let attempt = 0; attempt < 4; attempt += 1) await scrape('gateway');
    const gateway = await scrape('gateway');
    expect(exemplarTrace(sample(gateway, 'agora_graphql_operations_total', { operation: 'TelemetryPlaceOrder', type: 'mutation', outcome: 'ok' }))).toBe(traceId);

    const payments = await scrape('payments');
    expect(sample(payments, 'agora_circuit_breaker_state', { breaker: 'payment-provider', state: 'closed' }).value).toBe(1);
    expect(sample(payments, 'agora_http_requests_total', { method: 'POST', route: '/trpc/:path', status_code: '200' }).value).toBeGreaterThanOrEqual(1);
  });
});

describe('the audit log', () => {
  it('records admin mutations and refused attempts, with the actor by sub and the trace id', async () => {
    const tokenOf = async (user: string) => (await passwordGrant({ issuer: system.issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` })).accessToken;
    const traceId = randomBytes(16).toString('hex');
    const restock = 'mutation($id: ID!) { restockProduct(id: $id, quantity: 1) { id } }';
    await graphql(await tokenOf('admin'), restock, { id: KEYBOARD }, { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` });
    await expect(graphql(await tokenOf('alice'), restock, { id: KEYBOARD })).rejects.toThrow('FORBIDDEN');
    const audited = await eventually(
      () => logLines.filter(({ app, line }) => app === 'inventory' && line['audit'] === true && line['action'] === 'inventory.restockProduct'),
      (found) => found.length === 3,
      'inventory has audited the restocks',
    );
    expect(audited.map(({ line }) => [line['outcome'], (line['actor'] as { admin: boolean }).admin, line['resource']])).toEqual([
      ['allowed', true, `product:${KEYBOARD}`],
      ['succeeded', true, `product:${KEYBOARD}`],
      ['denied', false, `product:${KEYBOARD}`],
    ]);
    expect(audited.slice(0, 2).map(({ line }) => line['trace_id'])).toEqual([traceId, traceId]);
    expect(JSON.stringify(audited)).not.toMatch(/alice|admin@|eyJ/);
  });
});
