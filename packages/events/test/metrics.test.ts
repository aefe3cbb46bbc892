import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { MikroORM } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, createLogger } from '@agora/service';
import { recordSpansInMemory, type SpanRecorder } from '@agora/telemetry';
import { createTestDatabase, freePort, type TestDatabase } from '@agora/testing';
import { CLOUDEVENT_CONTENT_TYPE, defineSubscription, enqueueEvent, OutboxEvent, ProcessedEvent, registerEventSubscriptions, startOutboxRelay, type EventData, type OutboxRelay } from '../src/index.ts';
import { eventually } from './support.ts';

// What the outbox and the consumers report on /metrics: outbox lag per producer, publish failures,
// and the consumer's outcomes, redeliveries among them. No sidecar: the relay's stays unreachable.

const silent = createLogger('events-metrics-test', 'silent');
let database: TestDatabase;
let orm: MikroORM;
let app: FastifyInstance;
let relay: OutboxRelay;
let spans: SpanRecorder;

const placed = (orderId: string): EventData<'agora.order.placed.v1'> => ({
  orderId,
  userId: 'user-1',
  total: { amount: 8900, currency: 'EUR' },
  lines: [{ productId: randomUUID(), quantity: 1, unitPrice: { amount: 8900, currency: 'EUR' } }],
});

beforeAll(async () => {
  spans = recordSpansInMemory('events-metrics-test');
  database = await createTestDatabase('test_events_metrics');
  orm = await MikroORM.init({ clientUrl: database.url, entities: [OutboxEvent, ProcessedEvent], pool: { min: 0, max: 5 } });
  await orm.schema.create();
  app = createHttpServer({ logger: silent, readiness: async () => undefined });
  await registerEventSubscriptions(app, {
    orm,
    consumer: 'metrics-consumer',
    logger: silent,
    subscriptions: [defineSubscription({ type: 'agora.order.placed.v1', route: '/events/orders', handle: async () => undefined })],
  });
  relay = startOutboxRelay({ orm, daprHttpPort: await freePort(), service: 'orders', logger: silent, pollIntervalMs: 50 });
});

afterAll(async () => {
  await relay?.stop();
  await app?.close();
  await orm?.close();
  await database?.drop();
  await spans?.stop();
});

async function metrics(): Promise<string[]> {
  const response = await app.inject('/metrics');
  expect(response.statusCode).toBe(200);
  return response.body.split('\n');
}

/** The value of the sample of `name` whose labels include these. */
async function value(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const line = (await metrics()).find((candidate) => candidate.startsWith(`${name}{`) && Object.entries(labels).every(([key, label]) => candidate.includes(`${key}="${label}"`)));
  return line === undefined ? undefined : Number(line.split('} ')[1]?.split(' ')[0]);
}

describe('outbox metrics', () => {
  it('reports the unsent rows and the age of the oldest while the sidecar does not answer, and the failed publishes', async () => {
    const em = orm.em.fork();
    for (let index = 0; index < 3; index += 1) enqueueEvent(em, { type: 'agora.order.placed.v1', service: 'orders', data: placed(randomUUID()) });
    await em.flush();
    await eventually(async () => ((await value('agora_outbox_oldest_unsent_age_seconds', { producer: 'orders' })) ?? 0) >= 1, 'the oldest row is a second old');
    expect(await value('agora_outbox_unsent_events', { producer: 'orders' })).toBe(3);
    await eventually(async () => ((await value('agora_outbox_publish_failures_total', { producer: 'orders', reason: 'unreachable' })) ?? 0) >= 1, 'a failed publish is counted');
  });

  it('stores the trace an event was written in, so that it continues it', async () => {
    const em = orm.em.fork();
    const { row, traceparent } = trace.getTracer('test').startActiveSpan('placeOrder', (span) => {
      const written = enqueueEvent(em, { type: 'agora.order.placed.v1', service: 'orders', data: placed(randomUUID()) });
      span.end();
      return { row: written, traceparent: `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01` };
    });
    expect(row.traceparent).toBe(traceparent);
    em.clear();
  });
});

describe('consumer metrics', () => {
  const deliver = (body: unknown) => app.inject({ method: 'POST', url: '/events/orders', headers: { 'content-type': CLOUDEVENT_CONTENT_TYPE }, payload: JSON.stringify(body) });

  it('counts processed events, redeliveries of processed ones, and dropped ones', async () => {
    const event = { specversion: '1.0', id: randomUUID(), source: 'agora/orders', type: 'agora.order.placed.v1', datacontenttype: 'application/json', data: placed(randomUUID()) };
    for (let delivery = 0; delivery < 3; delivery += 1) expect((await deliver(event)).json()).toEqual({ status: 'SUCCESS' });
    expect((await deliver({ ...event, id: randomUUID(), type: 'agora.order.shipped.v1' })).json()).toEqual({ status: 'DROP' });

    const labels = { consumer: 'metrics-consumer', type: 'agora.order.placed.v1' };
    expect(await value('agora_events_consumed_total', { ...labels, outcome: 'processed' })).toBe(1);
    expect(await value('agora_events_consumed_total', { ...labels, outcome: 'duplicate' })).toBe(2);
    expect(await value('agora_events_redeliveries_total', labels)).toBe(2);
    // A type outside the catalog is not a label a sender can make up.
    expect(await value('agora_events_consumed_total', { consumer: 'metrics-consumer', type: 'unknown', outcome: 'dropped' })).toBe(1);
  });
});
