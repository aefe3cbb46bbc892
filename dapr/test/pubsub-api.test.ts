import { randomUUID } from 'node:crypto';
import { CommunicationProtocolEnum, DaprClient, DaprPubSubStatusEnum, DaprServer, LogLevel, type PubSubBulkPublishMessage } from '@dapr/dapr';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@agora/testing';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { componentYaml, eventually, quietSdkLogger, resourcesDir, TestApp, type CloudEvent, type Received } from './app-support.ts';

// Conformance of the publish API and the app channel (https://docs.dapr.io/reference/api/pubsub_api/),
// driven through @dapr/dapr as apps drive daprd: a publisher app's DaprClient, a subscriber app
// (plain HTTP, so that it can answer any status) and an app subscribed with the SDK's DaprServer,
// on pubsub.in-memory and on pubsub.redis (real Redis, streams named for this run and deleted after).
//
// Deliveries of one topic reach the subscriber one at a time (in-memory always, Redis with
// concurrency 1), so a sentinel published after a message arrives only once that message has had
// its last attempt: tests wait for conditions, never for time.

const run = randomUUID().slice(0, 8);
const PUBSUB = 'pubsub';
const RETRY_INTERVAL_MS = 100;
const MAX_RETRIES = 3;
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const backends: { type: string; metadata: Record<string, string> }[] = [
  { type: 'pubsub.in-memory', metadata: {} },
  { type: 'pubsub.redis', metadata: { redisHost: '127.0.0.1:6379', concurrency: '1', processingTimeout: '500ms', redeliverInterval: '100ms' } },
];

const streams: string[] = [];

afterAll(async () => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  if (streams.length > 0) await redis.del(...streams);
  await redis.quit();
});

interface SubscriptionInfo {
  pubsubname: string;
  topic: string;
  type: string;
  deadLetterTopic: string;
  rules?: { match?: string; path: string }[];
}

/** The body daprd answered a failed SDK call with, and its status (the SDK puts both in the error's message). */
function daprError(error: Error | undefined): { status: number; errorCode?: string; message?: string } {
  if (!error) throw new Error('expected the call to fail');
  const outer = JSON.parse(error.message) as { status: number; error_msg: string };
  return { status: outer.status, ...(JSON.parse(outer.error_msg) as { errorCode: string; message: string }) };
}

async function published(result: Promise<{ error?: Error }>): Promise<void> {
  // The SDK resolves with { error } instead of throwing (see DEPENDENCY-NOTES).
  const { error } = await result;
  expect(error).toBeUndefined();
}

describe.each(backends)('publish and delivery on $type', ({ type, metadata }) => {
  const topicName = (name: string) => {
    const topic = `agora-test-${run}-${type.slice('pubsub.'.length)}-${name}`;
    if (type === 'pubsub.redis') streams.push(topic);
    return topic;
  };
  const topics = {
    envelope: topicName('envelope'),
    raw: topicName('raw'),
    bulk: topicName('bulk'),
    routed: topicName('routed'),
    declared: topicName('declared'),
    overridden: topicName('overridden'),
    elsewhere: topicName('elsewhere'),
    plan: topicName('plan'),
    dead: topicName('dead'),
    kept: topicName('kept'),
    durable: topicName('durable'),
    sdk: topicName('sdk'),
  };
  const subscriptions = [
    { pubsubname: PUBSUB, topic: topics.envelope, route: '/envelope' },
    { pubsubname: PUBSUB, topic: topics.raw, route: '/raw', metadata: { rawPayload: 'true' } },
    { pubsubname: PUBSUB, topic: topics.bulk, route: '/bulk' },
    {
      pubsubname: PUBSUB,
      topic: topics.routed,
      routes: {
        rules: [
          { match: 'event.type == "widget.created"', path: '/widgets/created' },
          { match: 'event.data.priority > 5', path: '/widgets/urgent' },
        ],
        default: '/widgets/other',
      },
    },
    { pubsubname: PUBSUB, topic: topics.overridden, route: '/overridden' },
    { pubsubname: PUBSUB, topic: topics.plan, route: '/plan', deadLetterTopic: topics.dead },
    { pubsubname: PUBSUB, topic: topics.dead, route: '/dead' },
    { pubsubname: PUBSUB, topic: topics.kept, route: '/kept' },
    { pubsubname: PUBSUB, topic: topics.durable, route: '/durable' },
  ];
  const declarative = (name: string, topic: string, routes: string, scope: string) =>
    [
      'apiVersion: dapr.io/v2alpha1',
      'kind: Subscription',
      `metadata: { name: ${name} }`,
      'spec:',
      `  pubsubname: ${PUBSUB}`,
      `  topic: ${topic}`,
      '  routes:',
      routes,
      `scopes: [${scope}]`,
    ].join('\n');
  const resources = {
    'pubsub.yaml': componentYaml(PUBSUB, type, metadata),
    'subscriptions.yaml': [
      declarative('declared', topics.declared, `    rules:\n      - { match: 'event.type == "agora.priority"', path: /declared/priority }\n    default: /declared/default`, 'subscriber'),
      declarative('overridden', topics.overridden, '    default: /declared/overridden', 'subscriber'),
      declarative('elsewhere', topics.elsewhere, '    default: /elsewhere', 'someone-else'),
    ].join('\n---\n'),
    'resiliency.yaml': [
      'apiVersion: dapr.io/v1alpha1',
      'kind: Resiliency',
      'metadata: { name: deliveries }',
      'spec:',
      '  policies:',
      '    retries:',
      `      deliveries: { policy: constant, duration: ${RETRY_INTERVAL_MS}ms, maxRetries: ${MAX_RETRIES} }`,
      '  targets:',
      '    components:',
      `      ${PUBSUB}:`,
      '        inbound: { retry: deliveries }',
    ].join('\n'),
  };

  let resourcesPath: string;
  let app: TestApp;
  let publisherSidecar: RunningSidecar;
  let subscriberSidecar: RunningSidecar;
  let sdkSidecar: RunningSidecar;
  let sdkServer: DaprServer;
  let publisher: DaprClient;
  const sdkReceived: { data: { mark?: string }; headers: Record<string, string> }[] = [];

  const clientOf = (sidecar: RunningSidecar) =>
    new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sidecar.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error, service: quietSdkLogger } });

  async function subscriptionsOf(sidecar: RunningSidecar): Promise<SubscriptionInfo[]> {
    const metadata = (await clientOf(sidecar).metadata.get()) as unknown as { subscriptions?: SubscriptionInfo[] };
    return metadata.subscriptions ?? [];
  }

  /** Deliveries begin once the sidecar has subscribed; until then an in-memory message reaches nobody. */
  async function subscribed(sidecar: RunningSidecar, expected: string[]): Promise<void> {
    await eventually(async () => {
      const active = new Set((await subscriptionsOf(sidecar)).map((subscription) => subscription.topic));
      return expected.every((topic) => active.has(topic));
    }, `${sidecar.appId} has subscribed to ${expected.length} topics`);
  }

  async function startSubscriberSidecar(): Promise<RunningSidecar> {
    const sidecar = await startSidecar({ appId: 'subscriber', appPort: app.port, httpPort: 0, resourcesPaths: [resourcesPath], logLevel: 'silent' });
    await subscribed(sidecar, [...subscriptions.map((subscription) => subscription.topic), topics.declared]);
    return sidecar;
  }

  const publish = (topic: string, data: object | string, options: Parameters<DaprClient['pubsub']['publish']>[3] = {}) => published(publisher.pubsub.publish(PUBSUB, topic, data, options));

  /** The first `count` deliveries of the event whose data carries `mark`. */
  async function deliveries(mark: string, count: number): Promise<Received[]> {
    await eventually(() => app.deliveriesOf(mark).length >= count, `event ${mark} has been delivered ${count} time(s)`);
    return app.deliveriesOf(mark).slice(0, count);
  }

  /** The delivery number `index` (from 0) of the event whose data carries `mark`. */
  async function delivery(mark: string, index = 0): Promise<Received> {
    const received = (await deliveries(mark, index + 1))[index];
    if (!received) throw new Error(`no delivery ${index} of ${mark}`);
    return received;
  }

  const eventOf = (received: Received) => received.json as CloudEvent;

  /** Waits until every message published to `topic` before now has had its last attempt. */
  async function settle(topic: string): Promise<void> {
    const sentinel = randomUUID();
    await publish(topic, { mark: sentinel });
    await delivery(sentinel);
  }

  beforeAll(async () => {
    resourcesPath = resourcesDir(resources);
    app = await new TestApp({ subscribe: subscriptions }).start();
    publisherSidecar = await startSidecar({ appId: 'publisher', httpPort: 0, resourcesPaths: [resourcesPath], logLevel: 'silent' });
    publisher = clientOf(publisherSidecar);
    subscriberSidecar = await startSubscriberSidecar();

    // The SDK's server registers GET /dapr/subscribe when it starts, so its sidecar starts first and waits for it.
    const sdkPort = await freePort();
    sdkSidecar = await startSidecar({ appId: 'sdk-subscriber', appPort: sdkPort, httpPort: 0, resourcesPaths: [resourcesPath], logLevel: 'silent' });
    sdkServer = new DaprServer({
      serverHost: '127.0.0.1',
      serverPort: String(sdkPort),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      clientOptions: { daprHost: '127.0.0.1', daprPort: String(sdkSidecar.httpPort) },
      logger: { level: LogLevel.Error, service: quietSdkLogger },
    });
    await sdkServer.pubsub.subscribe(PUBSUB, topics.sdk, async (data: { mark?: string }, headers: object) => {
      sdkReceived.push({ data, headers: headers as Record<string, string> });
      // The first delivery of each event asks for a retry.
      return sdkReceived.filter((received) => received.data.mark === data.mark).length === 1 ? DaprPubSubStatusEnum.RETRY : DaprPubSubStatusEnum.SUCCESS;
    });
    await sdkServer.start();
    await subscribed(sdkSidecar, [topics.sdk]);
  });

  afterAll(async () => {
    await sdkServer?.stop();
    for (const sidecar of [sdkSidecar, subscriberSidecar, publisherSidecar]) await sidecar?.stop();
    await app?.stop();
  });

  it("wraps a JSON payload in a CloudEvents 1.0 envelope with daprd's members, and continues its trace to the app", async () => {
    const mark = randomUUID();
    await publish(topics.envelope, { mark, total: 4200 });
    const received = await delivery(mark);
    const event = eventOf(received);
    expect(received.path).toBe('/envelope');
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'com.dapr.event.sent',
      source: 'publisher',
      datacontenttype: 'application/json',
      topic: topics.envelope,
      pubsubname: PUBSUB,
      data: { mark, total: 4200 },
    });
    expect(event.id).toMatch(UUID);
    expect(event['traceparent']).toMatch(TRACEPARENT);
    expect(event['traceid']).toBe(event['traceparent']);
    expect(received.headers['content-type']).toBe('application/cloudevents+json');
    // The app's caller is the sidecar's consumer span: the publisher's trace, a span id of its own.
    const [, traceId, spanId] = String(event['traceparent']).split('-');
    expect(received.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(received.headers.traceparent).not.toContain(spanId);
  });

  it('keeps a CloudEvent the publisher built, setting its topic and pubsubname, and carries text as a string', async () => {
    const mark = randomUUID();
    const own = { specversion: '1.0', id: `order-${mark}`, source: 'orders', type: 'order.placed', datacontenttype: 'application/json', data: { mark } };
    await publish(topics.envelope, own, { contentType: 'application/cloudevents+json' });
    expect(eventOf(await delivery(mark))).toMatchObject({ ...own, topic: topics.envelope, pubsubname: PUBSUB });

    await publish(topics.envelope, `plain text ${mark}`);
    await eventually(() => app.events('/envelope').some((event) => event.data === `plain text ${mark}`), 'the text arrives');
    expect(app.events('/envelope').find((event) => event.data === `plain text ${mark}`)).toMatchObject({ datacontenttype: 'text/plain', source: 'publisher' });
  });

  it('publishes with metadata rawPayload unwrapped, and a rawPayload subscription gets the bytes as data_base64', async () => {
    const payload = { mark: randomUUID(), unwrapped: true };
    await publish(topics.raw, payload, { metadata: { rawPayload: 'true' } });
    const received = await delivery(payload.mark);
    const event = eventOf(received);
    expect(received.path).toBe('/raw');
    expect(event).toMatchObject({ specversion: '1.0', datacontenttype: 'application/octet-stream', topic: topics.raw, pubsubname: PUBSUB });
    expect(event.data).toBeUndefined();
    expect(JSON.parse(Buffer.from(event.data_base64 ?? '', 'base64').toString('utf8'))).toEqual(payload);
  });

  it('publishes a bulk through /v1.0-alpha1/publish/bulk, each entry in its own envelope with its own metadata', async () => {
    const marks = [randomUUID(), randomUUID(), randomUUID()] as const;
    const entries: PubSubBulkPublishMessage[] = [
      { mark: marks[0] },
      { entryID: 'second', event: { mark: marks[1] }, contentType: 'application/json', metadata: { 'cloudevent.type': 'bulk.second' } },
      { entryID: 'third', event: { specversion: '1.0', id: `third-${marks[2]}`, source: 'orders', type: 'bulk.third', data: { mark: marks[2] } }, contentType: 'application/cloudevents+json' },
    ];
    const result = await publisher.pubsub.publishBulk(PUBSUB, topics.bulk, entries);
    expect(result.failedMessages).toEqual([]);
    const events = await Promise.all(marks.map(async (mark) => eventOf(await delivery(mark))));
    expect(events.map((event) => [event['type'], event['source'], event['topic']])).toEqual([
      ['com.dapr.event.sent', 'publisher', topics.bulk],
      ['bulk.second', 'publisher', topics.bulk],
      ['bulk.third', 'orders', topics.bulk],
    ]);
    expect(events[2]?.id).toBe(`third-${marks[2]}`);
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
    expect(new Set(events.map((event) => event['traceparent'])).size).toBe(3);
  });

  it('routes an event to the path of the first rule that matches it, else to the default route', async () => {
    const [created, urgent, other] = [randomUUID(), randomUUID(), randomUUID()];
    await publish(topics.routed, { mark: created, priority: 9 }, { metadata: { 'cloudevent.type': 'widget.created' } });
    await publish(topics.routed, { mark: urgent, priority: 9 });
    await publish(topics.routed, { mark: other, priority: 1 });
    expect((await delivery(created)).path).toBe('/widgets/created');
    expect((await delivery(urgent)).path).toBe('/widgets/urgent');
    expect((await delivery(other)).path).toBe('/widgets/other');
  });

  it('delivers per a declarative Subscription scoped to the app, which the metadata API lists, and ignores one scoped to another app', async () => {
    const listed = await subscriptionsOf(subscriberSidecar);
    expect(listed.find((subscription) => subscription.topic === topics.declared)).toEqual({
      pubsubname: PUBSUB,
      topic: topics.declared,
      deadLetterTopic: '',
      rules: [{ match: 'event.type == "agora.priority"', path: '/declared/priority' }, { path: '/declared/default' }],
      type: 'DECLARATIVE',
    });
    expect(listed.find((subscription) => subscription.topic === topics.plan)).toMatchObject({ type: 'PROGRAMMATIC', deadLetterTopic: topics.dead });
    expect(listed.some((subscription) => subscription.topic === topics.elsewhere)).toBe(false);

    const [priority, plain] = [randomUUID(), randomUUID()];
    await publish(topics.declared, { mark: priority }, { metadata: { 'cloudevent.type': 'agora.priority' } });
    await publish(topics.declared, { mark: plain });
    expect((await delivery(priority)).path).toBe('/declared/priority');
    expect((await delivery(plain)).path).toBe('/declared/default');
  });

  it("lets the app's own subscription replace a declarative one to the same topic", async () => {
    const mark = randomUUID();
    await publish(topics.overridden, { mark });
    expect((await delivery(mark)).path).toBe('/overridden');
    expect((await subscriptionsOf(subscriberSidecar)).filter((subscription) => subscription.topic === topics.overridden)).toMatchObject([{ type: 'PROGRAMMATIC' }]);
  });

  it('acknowledges a 2xx answer whose status is SUCCESS, missing or without a body after one attempt', async () => {
    const marks = { success: randomUUID(), noStatus: randomUUID(), empty: randomUUID() };
    await publish(topics.plan, { mark: marks.success, plan: ['SUCCESS'] });
    await publish(topics.plan, { mark: marks.noStatus, plan: ['NOSTATUS'] });
    await publish(topics.plan, { mark: marks.empty, plan: ['empty'] });
    await settle(topics.plan);
    for (const mark of Object.values(marks)) expect(app.deliveriesOf(mark).map((delivery) => delivery.path)).toEqual(['/plan']);
  });

  it('retries a RETRY status, an unknown status and a 500 with the constant backoff of the Resiliency policy', async () => {
    const marks = { retry: randomUUID(), unknown: randomUUID(), failing: randomUUID() };
    await publish(topics.plan, { mark: marks.retry, plan: ['RETRY', 'SUCCESS'] });
    await publish(topics.plan, { mark: marks.unknown, plan: ['UNKNOWN', 'SUCCESS'] });
    await publish(topics.plan, { mark: marks.failing, plan: ['500', '500', 'SUCCESS'] });
    await settle(topics.plan);
    expect(app.deliveriesOf(marks.retry)).toHaveLength(2);
    expect(app.deliveriesOf(marks.unknown)).toHaveLength(2);
    const attempts = app.deliveriesOf(marks.failing);
    expect(attempts.map((attempt) => attempt.path)).toEqual(['/plan', '/plan', '/plan']);
    for (let i = 1; i < attempts.length; i += 1) expect((attempts[i]?.at ?? 0) - (attempts[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(RETRY_INTERVAL_MS - 5);
    expect(new Set(attempts.map((attempt) => eventOf(attempt).id)).size).toBe(1);
  });

  it('drops a DROP status and a 404 without retrying, to the dead-letter topic', async () => {
    const marks = [randomUUID(), randomUUID()];
    await publish(topics.plan, { mark: marks[0], plan: ['DROP', 'SUCCESS'] });
    await publish(topics.plan, { mark: marks[1], plan: ['404', 'SUCCESS'] });
    for (const mark of marks) {
      const [first, dead] = [await delivery(mark), await delivery(mark, 1)];
      expect([first.path, dead.path]).toEqual(['/plan', '/dead']);
      expect(eventOf(dead)).toMatchObject({ id: eventOf(first).id, data: eventOf(first).data });
    }
    await settle(topics.plan);
    for (const mark of marks) expect(app.deliveriesOf(mark)).toHaveLength(2);
  });

  it("sends a message to the dead-letter topic once the Resiliency policy's retries are exhausted", async () => {
    const mark = randomUUID();
    await publish(topics.plan, { mark, plan: ['500'] });
    const attempts = await deliveries(mark, MAX_RETRIES + 2);
    expect(attempts.map((attempt) => attempt.path)).toEqual([...Array<string>(MAX_RETRIES + 1).fill('/plan'), '/dead']);
    expect(new Set(attempts.map((attempt) => eventOf(attempt).id)).size).toBe(1);
  });

  it('keeps a message whose retries are exhausted with the component when there is no dead-letter topic, and delivers it again', async () => {
    const mark = randomUUID();
    const failures = Array<string>(MAX_RETRIES + 1).fill('500');
    await publish(topics.kept, { mark, plan: [...failures, 'SUCCESS'] });
    const attempts = await deliveries(mark, MAX_RETRIES + 2);
    expect(new Set(attempts.map((attempt) => `${attempt.path} ${eventOf(attempt).id}`)).size).toBe(1);
    await settle(topics.kept);
    expect(app.deliveriesOf(mark)).toHaveLength(MAX_RETRIES + 2);
  });

  it("delivers to an app subscribed with the SDK's DaprServer, honouring the RETRY its handler returns", async () => {
    const mark = randomUUID();
    await publish(topics.sdk, { mark, from: 'sdk test' });
    await eventually(() => sdkReceived.filter((received) => received.data.mark === mark).length === 2, 'the SDK handler has been called twice');
    const calls = sdkReceived.filter((received) => received.data.mark === mark);
    expect(calls.map((call) => call.data)).toEqual([
      { mark, from: 'sdk test' },
      { mark, from: 'sdk test' },
    ]);
    expect(calls[0]?.headers['traceparent']).toMatch(TRACEPARENT);
    expect(calls[0]?.headers['pubsubname']).toBe(PUBSUB);
  });

  it("fails a publish to an unknown pubsub with daprd's 404 ERR_PUBSUB_NOT_FOUND, single and bulk", async () => {
    const single = await publisher.pubsub.publish('no-such-pubsub', topics.envelope, { mark: randomUUID() });
    expect(daprError(single.error)).toEqual({ status: 404, errorCode: 'ERR_PUBSUB_NOT_FOUND', message: 'pubsub no-such-pubsub is not found' });
    const bulk = await publisher.pubsub.publishBulk('no-such-pubsub', topics.bulk, [{ a: 1 }, { b: 2 }]);
    expect(bulk.failedMessages).toHaveLength(2);
    expect(daprError(bulk.failedMessages[0]?.error)).toMatchObject({ status: 404, errorCode: 'ERR_PUBSUB_NOT_FOUND' });
  });

  it("answers malformed publish requests with daprd's status and error code", async () => {
    const rawPayload = await publisher.pubsub.publish(PUBSUB, topics.envelope, { a: 1 }, { metadata: { rawPayload: 'maybe' } });
    expect(daprError(rawPayload.error)).toMatchObject({ status: 400, errorCode: 'ERR_PUBSUB_REQUEST_METADATA' });
    const noTopic = await publisher.pubsub.publish(PUBSUB, '', { a: 1 });
    expect(daprError(noTopic.error)).toMatchObject({ status: 404, errorCode: 'ERR_TOPIC_NAME_EMPTY' });
    const duplicate = await publisher.pubsub.publishBulk(PUBSUB, topics.bulk, [
      { entryID: 'same', event: { a: 1 }, contentType: 'application/json' },
      { entryID: 'same', event: { b: 2 }, contentType: 'application/json' },
    ]);
    expect(daprError(duplicate.failedMessages[0]?.error)).toMatchObject({ status: 400, errorCode: 'ERR_PUBSUB_EVENTS_SER' });
    const mismatch = await publisher.pubsub.publishBulk(PUBSUB, topics.bulk, [{ entryID: 'object as text', event: { a: 1 }, contentType: 'text/plain' }]);
    expect(daprError(mismatch.failedMessages[0]?.error)).toMatchObject({ status: 400, errorCode: 'ERR_PUBSUB_EVENTS_SER' });
  });

  // Last: it restarts the subscriber.
  it('redelivers after the app and its sidecar restart: the message that was in flight, and those published meanwhile', async () => {
    const inFlight = randomUUID();
    await publish(topics.durable, { mark: inFlight, plan: ['hang', 'SUCCESS'] });
    const first = await delivery(inFlight);
    await app.stop();
    await subscriberSidecar.stop();

    const meanwhile = [randomUUID(), randomUUID()];
    for (const mark of meanwhile) await publish(topics.durable, { mark });
    await app.start();
    subscriberSidecar = await startSubscriberSidecar();

    expect(eventOf(await delivery(inFlight, 1)).id).toBe(eventOf(first).id);
    for (const mark of meanwhile) expect((await delivery(mark)).path).toBe('/durable');
  });
});
