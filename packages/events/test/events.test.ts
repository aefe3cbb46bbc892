import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import { createHttpServer, createLogger } from '@agora/service';
import type { RunningSidecar } from '@agora/sidecar';
import { createTestDatabase, freePort, type TestDatabase } from '@agora/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CLOUDEVENT_CONTENT_TYPE,
  daprSubscriptions,
  defineSubscription,
  enqueueEvent,
  OutboxEvent,
  ProcessedEvent,
  registerEventSubscriptions,
  startOutboxRelay,
  type EventData,
  type OutboxRelay,
  type OutboxRelayOptions,
  type ReceivedEvent,
} from '../src/index.ts';
import { capturingLogger, eventually, pubsubResources, startTestSidecar, subscribed } from './support.ts';

// The outbox relay and the consumer helper against a real sidecar (in-memory pub/sub) and real
// PostgreSQL: a publisher sidecar ("orders", no app) and a consumer app with its own sidecar.

/** What the consumer's handler writes, in the same transaction as processed_events. */
const Receipt = defineEntity({
  name: 'Receipt',
  tableName: 'receipts',
  properties: {
    id: p.uuid().primary(),
    eventId: p.uuid(),
    eventType: p.string(),
    orderId: p.uuid(),
  },
});

interface Delivery {
  eventId: string | undefined;
  status: number;
  outcome: string | undefined;
}

const silent = createLogger('events-test', 'silent');
const resources = pubsubResources({ allowedTopics: 'orders,payments,inventory' });
let database: TestDatabase;
let orm: MikroORM;
/** The same database through an ORM of its own, as another instance of the service would reach it. */
let otherProcess: MikroORM;
let consumerApp: FastifyInstance;
let consumerSidecar: RunningSidecar;
let publisher: RunningSidecar;
let client: DaprClient;
const deliveries: Delivery[] = [];
const handled: ReceivedEvent[] = [];
const followUps: string[] = [];
/** Order ids whose handler throws this many more times (after writing its receipt, which must roll back). */
const failuresLeft = new Map<string, number>();
const relays: OutboxRelay[] = [];

const subscriptions = [
  defineSubscription({
    types: ['agora.order.placed.v1', 'agora.order.cancelled.v1'],
    topic: 'orders',
    route: '/events/orders',
    async handle(event, em) {
      em.create(Receipt, { id: randomUUID(), eventId: event.id, eventType: event.type, orderId: event.data.orderId });
      await em.flush();
      const left = failuresLeft.get(event.data.orderId) ?? 0;
      if (left > 0) {
        failuresLeft.set(event.data.orderId, left - 1);
        throw new Error('the handler failed on purpose');
      }
      handled.push(event);
    },
    async afterCommit(event) {
      followUps.push(event.id);
    },
  }),
  defineSubscription({
    type: 'agora.payment.succeeded.v1',
    route: '/events/payment-succeeded',
    // As orders' saga subscription: only outcomes that came after a confirmation concern it.
    skipWhen: { awaitedConfirmation: false },
    async handle(event, em) {
      em.create(Receipt, { id: randomUUID(), eventId: event.id, eventType: event.type, orderId: event.data.orderId });
      handled.push(event);
    },
  }),
];

beforeAll(async () => {
  database = await createTestDatabase('test_events');
  orm = await MikroORM.init({ clientUrl: database.url, entities: [OutboxEvent, ProcessedEvent, Receipt], pool: { min: 0, max: 10 } });
  await orm.schema.create();
  otherProcess = await MikroORM.init({ clientUrl: database.url, entities: [OutboxEvent, ProcessedEvent, Receipt], pool: { min: 0, max: 5 } });
  consumerApp = createHttpServer({ logger: silent, readiness: async () => undefined });
  consumerApp.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'POST') {
      const field = (text: unknown, name: string): string | undefined => {
        try {
          const value = (JSON.parse(String(text)) as Record<string, unknown>)[name];
          return typeof value === 'string' ? value : undefined;
        } catch {
          return undefined;
        }
      };
      deliveries.push({ eventId: field(request.body, 'id'), status: reply.statusCode, outcome: field(payload, 'status') });
    }
    return payload;
  });
  await registerEventSubscriptions(consumerApp, { orm, consumer: 'test-consumer', subscriptions, logger: silent });
  await consumerApp.listen({ host: '127.0.0.1', port: 0 });
  const address = consumerApp.server.address();
  const appPort = typeof address === 'object' && address ? address.port : 0;
  consumerSidecar = await startTestSidecar('consumer', resources, { appPort });
  publisher = await startTestSidecar('orders', resources);
  client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(publisher.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error } });
  await subscribed(consumerSidecar, ['orders', 'payments']);
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  // A row a test left unsent must not be published by the next test's relay.
  await orm.em.fork().nativeDelete(OutboxEvent, { sentAt: null });
});

afterAll(async () => {
  await consumerSidecar?.stop();
  await publisher?.stop();
  await consumerApp?.close();
  await otherProcess?.close();
  await orm?.close();
  await database?.drop();
  rmSync(resources, { recursive: true, force: true });
});

function startRelay(options: Partial<OutboxRelayOptions> = {}): OutboxRelay {
  const relay = startOutboxRelay({ orm, daprHttpPort: publisher.httpPort, service: 'orders', logger: silent, pollIntervalMs: 100, ...options });
  relays.push(relay);
  return relay;
}

const placed = (orderId: string): EventData<'agora.order.placed.v1'> => ({
  orderId,
  userId: 'user-1',
  total: { amount: 8900, currency: 'EUR' },
  lines: [{ productId: randomUUID(), quantity: 1, unitPrice: { amount: 8900, currency: 'EUR' } }],
});

/** Writes order-placed events to the outbox in one transaction (through `orm` unless told) and returns their rows. */
async function enqueuePlaced(count: number, options: { traceparent?: string; orm?: MikroORM } = {}) {
  const em = (options.orm ?? orm).em.fork();
  const rows = Array.from({ length: count }, () => {
    const orderId = randomUUID();
    return enqueueEvent(em, { type: 'agora.order.placed.v1', service: 'orders', subject: `order/${orderId}`, data: placed(orderId), traceparent: options.traceparent });
  });
  await em.flush();
  return rows;
}

const deliveriesOf = (eventId: string) => deliveries.filter((delivery) => delivery.eventId === eventId);
const receiptsFor = (eventId: string) => orm.em.fork().count(Receipt, { eventId });
const unsent = (ids: readonly string[]) => orm.em.fork().count(OutboxEvent, { id: { $in: [...ids] }, sentAt: null });

describe('the outbox relay', () => {
  it('publishes unsent rows as CloudEvents, in creation order, and marks them sent', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const rows = await enqueuePlaced(3, { traceparent });
    startRelay().notify();
    await eventually(() => rows.every((row) => handled.some((event) => event.id === row.id)), 'the consumer handled all three events');
    expect(handled.filter((event) => rows.some((row) => row.id === event.id)).map((event) => event.id)).toEqual(rows.map((row) => row.id));
    const first = handled.find((event) => event.id === rows[0]?.id);
    expect(first).toMatchObject({ type: 'agora.order.placed.v1', source: 'agora/orders', subject: rows[0]?.subject, traceparent, time: rows[0]?.createdAt.toISOString() });
    expect(first?.data).toEqual(rows[0]?.data);
    await eventually(async () => (await unsent(rows.map((row) => row.id))) === 0, 'the rows are marked sent');
    const stored = await orm.em.fork().find(OutboxEvent, { id: { $in: rows.map((row) => row.id) } });
    expect(stored.every((row) => row.publishAttempts === 0 && row.sentAt !== null)).toBe(true);
  });

  it('publishes rows another process committed on its poll, once they are sweepAfterMs old', async () => {
    startRelay({ pollIntervalMs: 50, sweepAfterMs: 600 });
    // Its first pass, at start, is over before anything is written.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [row] = await enqueuePlaced(1, { orm: otherProcess });
    const written = Date.now();
    await eventually(() => handled.some((event) => event.id === row?.id), 'the polled event is handled');
    expect(Date.now() - written).toBeGreaterThanOrEqual(500);
  });

  it("leaves the rows another process committed to that process's relay while they are fresh", async () => {
    // This process's relay publishes what it commits; the other one polls all the time but leaves young rows alone.
    startRelay({ pollIntervalMs: 600_000 });
    startRelay({ orm: otherProcess, pollIntervalMs: 10, sweepAfterMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rows = await enqueuePlaced(30);
    await eventually(async () => (await unsent(rows.map((row) => row.id))) === 0, 'all rows are sent');
    await eventually(() => rows.every((row) => deliveriesOf(row.id).length > 0), 'every event is delivered');
    expect(rows.filter((row) => deliveriesOf(row.id).length !== 1)).toEqual([]);
  });

  it('publishes what a commit through its ORM wrote right after it, without notify() or a poll', async () => {
    startRelay({ pollIntervalMs: 600_000 });
    // Its first pass, at start, is over before anything is written.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [flushed] = await enqueuePlaced(1);
    const orderId = randomUUID();
    const inTransaction = await orm.em.fork().transactional(async (em) => enqueueEvent(em, { type: 'agora.order.placed.v1', service: 'orders', subject: `order/${orderId}`, data: placed(orderId) }));
    await eventually(() => [flushed?.id, inTransaction.id].every((id) => handled.some((event) => event.id === id)), 'the events of a flush and of a transaction are handled');
  });

  it('never lets two relays publish the same row', async () => {
    const rows = await enqueuePlaced(60);
    const [first, second] = [startRelay({ batchSize: 5 }), startRelay({ batchSize: 5 })];
    first.notify();
    second.notify();
    await eventually(async () => (await unsent(rows.map((row) => row.id))) === 0, 'all rows are sent');
    await eventually(() => rows.every((row) => deliveriesOf(row.id).length > 0), 'every event is delivered');
    expect(rows.filter((row) => deliveriesOf(row.id).length !== 1)).toEqual([]);
  });

  it('keeps rows unsent while its sidecar is down and publishes them once it answers again', async () => {
    const port = await freePort();
    const { logger, entries } = capturingLogger('relay-outage', 'warn');
    const relay = startRelay({ daprHttpPort: port, logger });
    const outageWarnings = () => entries.filter((entry) => entry.msg.includes('does not answer')).length;

    // Down from the start: the SDK has never reached it.
    const [early] = await enqueuePlaced(1);
    relay.notify();
    await eventually(() => outageWarnings() === 1, 'the relay reports the missing sidecar');
    expect(await unsent([early!.id])).toBe(1);
    let sidecar = await startTestSidecar('orders', resources, { httpPort: port });
    await eventually(() => handled.some((event) => event.id === early?.id), 'the early event is handled once the sidecar is up');

    // Gone after it worked: publishes fail with a refused connection.
    await sidecar.stop();
    const [late] = await enqueuePlaced(1);
    relay.notify();
    await eventually(() => outageWarnings() === 2, 'the relay reports the sidecar gone again');
    const row = await orm.em.fork().findOneOrFail(OutboxEvent, { id: late!.id });
    expect(row.sentAt).toBeNull();
    expect(row.publishAttempts).toBe(0);
    sidecar = await startTestSidecar('orders', resources, { httpPort: port });
    try {
      await eventually(() => deliveriesOf(late!.id).length === 1, 'the late event is delivered once the sidecar is back');
      expect(handled.some((event) => event.id === late?.id)).toBe(true);
    } finally {
      await relay.stop();
      await sidecar.stop();
    }
  });

  it('gives up on a row the sidecar keeps refusing after maxAttempts, without holding back later rows', async () => {
    const em = orm.em.fork();
    const orderId = randomUUID();
    // A topic outside the component's allowedTopics: the sidecar answers 403 for this row only.
    const poison = em.create(OutboxEvent, { type: 'agora.order.placed.v1', topic: 'not-allowed', source: 'agora/orders', subject: null, data: placed(orderId), sentAt: null, traceparent: null });
    await em.flush();
    const { logger, entries } = capturingLogger('relay-poison', 'warn');
    const relay = startRelay({ maxAttempts: 3, logger });
    const attempts = async () => (await orm.em.fork().findOneOrFail(OutboxEvent, { id: poison.id })).publishAttempts;

    // Good rows keep flowing meanwhile; each one published is evidence that the refusals are the row's fault.
    const good: string[] = [];
    await eventually(async () => {
      const [row] = await enqueuePlaced(1);
      good.push(row!.id);
      relay.notify();
      await new Promise((resolve) => setTimeout(resolve, 100));
      return (await attempts()) >= 3;
    }, 'the poison row is charged three attempts', 20_000);
    await eventually(() => good.every((id) => handled.some((event) => event.id === id)), 'every good row is handled');
    expect(entries.some((entry) => entry.msg.startsWith('giving up on an outbox event') && entry['eventId'] === poison.id)).toBe(true);

    // Given up: no further attempts, still unsent.
    const [after] = await enqueuePlaced(1);
    relay.notify();
    await eventually(() => handled.some((event) => event.id === after?.id), 'a later row is handled');
    const row = await orm.em.fork().findOneOrFail(OutboxEvent, { id: poison.id });
    expect(row.sentAt).toBeNull();
    expect(row.publishAttempts).toBe(3);
  });
});

describe('the consumer', () => {
  /** Publishes a CloudEvent through the publisher sidecar, as another producer would. */
  async function publishEnvelope(topic: string, envelope: Record<string, unknown>): Promise<void> {
    const result = await client.pubsub.publish('pubsub', topic, envelope, { contentType: CLOUDEVENT_CONTENT_TYPE });
    expect(result.error).toBeUndefined();
  }
  const envelope = (type: string, data: unknown, id: string = randomUUID()) => ({ specversion: '1.0', id, source: 'agora/test', type, datacontenttype: 'application/json', data });

  it('serves its subscriptions to Dapr, one per topic, routed by event type', async () => {
    const response = await consumerApp.inject({ method: 'GET', url: '/dapr/subscribe' });
    expect(response.json()).toEqual([
      {
        pubsubname: 'pubsub',
        topic: 'orders',
        routes: {
          rules: [
            { match: 'event.type == "agora.order.placed.v1"', path: '/events/orders' },
            { match: 'event.type == "agora.order.cancelled.v1"', path: '/events/orders' },
          ],
        },
      },
      {
        pubsubname: 'pubsub',
        topic: 'payments',
        routes: {
          rules: [
            {
              match: 'event.type == "agora.payment.succeeded.v1" && !(has(event.data.awaitedConfirmation) && event.data.awaitedConfirmation == false)',
              path: '/events/payment-succeeded',
            },
          ],
        },
      },
    ]);
  });

  it('refuses subscriptions that contradict the catalog', () => {
    const handle = async () => undefined;
    expect(() => daprSubscriptions([defineSubscription({ type: 'agora.order.placed.v1', topic: 'payments', route: '/a', handle })])).toThrow('published to topic orders');
    expect(() => daprSubscriptions([defineSubscription({ type: 'agora.order.placed.v1', route: '/a', handle }), defineSubscription({ type: 'agora.order.placed.v1', route: '/b', handle })])).toThrow('two event subscriptions');
    // A field name that would not be a CEL field selection in the routing rule.
    expect(() => daprSubscriptions([defineSubscription({ type: 'agora.payment.succeeded.v1', route: '/a', handle, skipWhen: { 'awaited) || true || (x': false } as never })])).toThrow('must be a data field name');
  });

  it('handles a redelivered event once and acknowledges every delivery', async () => {
    const [row] = await enqueuePlaced(1);
    const relay = startRelay();
    relay.notify();
    await eventually(() => handled.some((event) => event.id === row?.id), 'the event is handled');
    // The relay sends it again, as after a crash between publishing and committing sent_at.
    await orm.em.fork().nativeUpdate(OutboxEvent, { id: row!.id }, { sentAt: null });
    relay.notify();
    await eventually(() => deliveriesOf(row!.id).length === 2, 'the event is delivered a second time');
    expect(deliveriesOf(row!.id).map((delivery) => [delivery.status, delivery.outcome])).toEqual([[200, 'SUCCESS'], [200, 'SUCCESS']]);
    expect(handled.filter((event) => event.id === row?.id)).toHaveLength(1);
    expect(await receiptsFor(row!.id)).toBe(1);
    expect(followUps.filter((id) => id === row?.id)).toHaveLength(1);
    expect(await orm.em.fork().count(ProcessedEvent, { eventId: row!.id, consumer: 'test-consumer' })).toBe(1);
  });

  it('treats concurrent deliveries of one event as one', async () => {
    const orderId = randomUUID();
    const body = JSON.stringify(envelope('agora.order.placed.v1', placed(orderId)));
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => consumerApp.inject({ method: 'POST', url: '/events/orders', headers: { 'content-type': CLOUDEVENT_CONTENT_TYPE }, body })),
    );
    expect(answers.map((answer) => answer.json<{ status: string }>().status)).toEqual(Array(5).fill('SUCCESS'));
    expect(handled.filter((event) => event.type === 'agora.order.placed.v1' && event.data.orderId === orderId)).toHaveLength(1);
    expect(await orm.em.fork().count(Receipt, { orderId })).toBe(1);
  });

  it('asks for a retry when the handler fails, and keeps none of its writes until it succeeds', async () => {
    const orderId = randomUUID();
    failuresLeft.set(orderId, 2);
    const id = randomUUID();
    await publishEnvelope('orders', envelope('agora.order.cancelled.v1', { orderId, userId: 'user-1', reason: 'changed my mind' }, id));
    // The answer is recorded as it is sent, just after the handler ran.
    await eventually(() => deliveriesOf(id).length === 3, 'the third delivery is answered');
    expect(deliveriesOf(id).map((delivery) => [delivery.status, delivery.outcome])).toEqual([[500, 'RETRY'], [500, 'RETRY'], [200, 'SUCCESS']]);
    expect(await receiptsFor(id)).toBe(1);
  });

  it('drops an event whose data does not match its schema, without calling the handler', async () => {
    const id = randomUUID();
    await publishEnvelope('orders', envelope('agora.order.placed.v1', { orderId: 'not-a-uuid', userId: 'user-1' }, id));
    await eventually(() => deliveriesOf(id).length === 1, 'the event is delivered');
    expect(deliveriesOf(id)[0]).toMatchObject({ status: 200, outcome: 'DROP' });
    expect(handled.some((event) => event.id === id)).toBe(false);
    expect(await orm.em.fork().count(ProcessedEvent, { eventId: id })).toBe(0);
  });

  it('has the sidecar skip an event its subscription skips: never posted, while the others are handled', async () => {
    const succeeded = (awaitedConfirmation?: boolean) =>
      envelope('agora.payment.succeeded.v1', { paymentId: randomUUID(), orderId: randomUUID(), userId: 'u', amount: { amount: 1, currency: 'EUR' }, ...(awaitedConfirmation === undefined ? {} : { awaitedConfirmation }) });
    const [skipped, awaited, older] = [succeeded(false), succeeded(true), succeeded()];
    for (const event of [skipped, awaited, older]) await publishEnvelope('payments', event);
    await eventually(() => [awaited, older].every((event) => handled.some((handledEvent) => handledEvent.id === event.id)), 'the other two are handled');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(deliveriesOf(skipped.id)).toEqual([]);
    expect(await orm.em.fork().count(ProcessedEvent, { eventId: skipped.id })).toBe(0);
  });

  it('acknowledges an event its subscription skips that is posted to it directly, without a transaction or the handler', async () => {
    const post = async (awaitedConfirmation: boolean) => {
      const event = envelope('agora.payment.succeeded.v1', { paymentId: randomUUID(), orderId: randomUUID(), userId: 'u', amount: { amount: 1, currency: 'EUR' }, awaitedConfirmation });
      const answer = await consumerApp.inject({ method: 'POST', url: '/events/payment-succeeded', headers: { 'content-type': CLOUDEVENT_CONTENT_TYPE }, body: JSON.stringify(event) });
      return { id: event.id, status: answer.json<{ status: string }>().status, recorded: await orm.em.fork().count(ProcessedEvent, { eventId: event.id }) };
    };
    const ignored = await post(false);
    expect(ignored).toMatchObject({ status: 'SUCCESS', recorded: 0 });
    expect(handled.some((event) => event.id === ignored.id)).toBe(false);
    const accepted = await post(true);
    expect(accepted).toMatchObject({ status: 'SUCCESS', recorded: 1 });
    expect(handled.some((event) => event.id === accepted.id)).toBe(true);
  });

  it('drops what is not an Agora event: unknown types, other ids, malformed bodies', async () => {
    const post = async (body: string) =>
      (await consumerApp.inject({ method: 'POST', url: '/events/orders', headers: { 'content-type': CLOUDEVENT_CONTENT_TYPE }, body })).json<{ status: string }>().status;
    expect(await post(JSON.stringify(envelope('agora.order.shipped.v1', { orderId: randomUUID() })))).toBe('DROP');
    expect(await post(JSON.stringify(envelope('agora.payment.succeeded.v1', { paymentId: randomUUID(), orderId: randomUUID(), userId: 'u', amount: { amount: 1, currency: 'EUR' } })))).toBe('DROP');
    expect(await post(JSON.stringify(envelope('agora.order.placed.v1', placed(randomUUID()), 'order-1')))).toBe('DROP');
    expect(await post(JSON.stringify({ id: randomUUID(), type: 'agora.order.placed.v1' }))).toBe('DROP');
    expect(await post('{not json')).toBe('DROP');
  });

  it('admits deliveries only with the app API token when one is configured', async () => {
    const app = createHttpServer({ logger: silent, readiness: async () => undefined });
    await registerEventSubscriptions(app, { orm, consumer: 'guarded', subscriptions, logger: silent, appApiToken: 'sidecar-secret' });
    try {
      const body = JSON.stringify(envelope('agora.order.shipped.v1', {}));
      const headers = { 'content-type': CLOUDEVENT_CONTENT_TYPE };
      expect((await app.inject({ method: 'POST', url: '/events/orders', headers, body })).statusCode).toBe(401);
      const admitted = await app.inject({ method: 'POST', url: '/events/orders', headers: { ...headers, 'dapr-api-token': 'sidecar-secret' }, body });
      expect(admitted.json()).toEqual({ status: 'DROP' });
    } finally {
      await app.close();
    }
  });
});
