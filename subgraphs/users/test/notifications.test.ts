import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enqueueEvent, OutboxEvent, startOutboxRelay, type EventData, type EventType, type OutboxRelay } from '@agora/events';
import { createLogger } from '@agora/service';
import { startSidecar, type RunningSidecar } from '@agora/sidecar';
import { createTestDatabase, type DevUser, devUserIds, startTestIssuer, startTestSubgraph, tempDir, type TestDatabase, type TestIssuer, type TestSubgraph } from '@agora/testing';
import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from '../src/context.ts';
import { DeliveryStatus, NotificationDelivery, type NotificationDeliveryEntity } from '../src/modules/notification/notification-delivery.entity.ts';
import type { NotificationSender, OutgoingMessage } from '../src/modules/notification/notification-sender.ts';
import { Notification } from '../src/modules/notification/notification.entity.ts';
import { createUsersSubgraph } from '../src/subgraph.ts';

// Order and payment events published by a producer's outbox relay through its sidecar reach the
// users app through its own sidecar (in-memory pub/sub, as `npm start` runs it) and become
// notifications that each user reads through GraphQL with a real token.

interface InboxNode {
  id: string;
  kind: string;
  title: string;
  body: string;
  orderId: string | null;
  createdAt: string;
  readAt: string | null;
}

interface Inbox {
  totalCount: number;
  unreadCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
  nodes: InboxNode[];
}

const INBOX = `query($first: Int, $after: String) {
  me { notifications(first: $first, after: $after) { totalCount unreadCount endCursor hasNextPage nodes { id kind title body orderId createdAt readAt } } }
}`;
const MARK_READ = 'mutation($id: ID!) { markNotificationRead(id: $id) { id readAt } }';

/** The simulated provider's stand-in: records messages, fails for the addresses in `failing`, waits for `held` while it is set. */
class RecordingSender implements NotificationSender {
  readonly sent: OutgoingMessage[] = [];
  readonly failing = new Set<string>();
  held: Promise<void> | undefined;
  waiting = 0;

  async send(message: OutgoingMessage): Promise<void> {
    if (this.held) {
      this.waiting += 1;
      await this.held.finally(() => (this.waiting -= 1));
    }
    if (this.failing.has(message.to)) throw new Error('the mail provider is unavailable');
    this.sent.push(message);
  }
}

const silent = createLogger('users-events-test', 'silent');
const sender = new RecordingSender();
let issuer: TestIssuer;
let subgraph: TestSubgraph<Context>;
let producerDatabase: TestDatabase;
let producer: MikroORM;
let usersSidecar: RunningSidecar;
let ordersSidecar: RunningSidecar;
let relay: OutboxRelay;

beforeAll(async () => {
  issuer = await startTestIssuer();
  subgraph = await startTestSubgraph(createUsersSubgraph({ sender: () => sender, deliveryRetryIntervalMs: 200 }), { issuer });
  // The producer: any service's outbox table, relayed through its own sidecar.
  producerDatabase = await createTestDatabase('test_users_producer');
  producer = await MikroORM.init({ clientUrl: producerDatabase.url, entities: [OutboxEvent], pool: { min: 0, max: 4 } });
  await producer.schema.create();
  const resources = tempDir('users-events-');
  writeFileSync(join(resources, 'pubsub.yaml'), 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.in-memory\n  version: v1\n  metadata: []\n');
  usersSidecar = await startSidecar({ appId: 'users', appPort: subgraph.service.port, httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
  ordersSidecar = await startSidecar({ appId: 'orders', httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
  await eventually(async () => {
    const metadata = (await (await fetch(`${usersSidecar.url}/v1.0/metadata`)).json()) as { subscriptions?: { topic: string }[] };
    const topics = (metadata.subscriptions ?? []).map((subscription) => subscription.topic);
    return topics.includes('orders') && topics.includes('payments');
  }, 'the users sidecar subscribed to orders and payments');
  relay = startOutboxRelay({ orm: producer, daprHttpPort: ordersSidecar.httpPort, service: 'orders', logger: silent, pollIntervalMs: 100 });
});

afterAll(async () => {
  await relay?.stop();
  await ordersSidecar?.stop();
  await usersSidecar?.stop();
  await subgraph?.close();
  await issuer?.close();
  await producer?.close();
  await producerDatabase?.drop();
});

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const money = { amount: 8900, currency: 'EUR' };

/** The producer commits an event to its outbox and nudges its relay; returns the event id. */
async function publish<T extends EventType>(type: T, data: EventData<T>): Promise<string> {
  const em = producer.em.fork();
  const row = enqueueEvent(em, { type, service: type.startsWith('agora.payment') ? 'payments' : 'orders', data });
  await em.flush();
  relay.notify();
  return row.id;
}

const notificationOf = (eventId: string) => subgraph.service.orm.em.fork().findOne(Notification, { eventId });
const arrived = (eventId: string) => eventually(async () => (await notificationOf(eventId)) !== null, `the notification of ${eventId} is stored`);

async function inboxOf(user: DevUser, variables: { first?: number; after?: string } = {}): Promise<Inbox> {
  const { data, errors } = await subgraph.execute<{ me: { notifications: Inbox } }>(INBOX, variables, user);
  expect(errors).toBeUndefined();
  return data!.me.notifications;
}

const placed = (userId: string, orderId: string): EventData<'agora.order.placed.v1'> => ({
  orderId,
  userId,
  total: money,
  lines: [{ productId: randomUUID(), quantity: 1, unitPrice: money }],
});

describe('notifications from events', () => {
  it("turns an order's and its payment's events into notifications in the user's inbox, newest first", async () => {
    const orderId = randomUUID();
    const paymentId = randomUUID();
    // One at a time: the two topics are delivered independently of each other.
    await arrived(await publish('agora.order.placed.v1', placed(devUserIds.alice, orderId)));
    await arrived(await publish('agora.payment.succeeded.v1', { paymentId, orderId, userId: devUserIds.alice, amount: money }));
    await arrived(await publish('agora.order.confirmed.v1', { orderId, userId: devUserIds.alice, total: money }));

    // Over HTTP with alice's real access token, as through the gateway.
    const response = await subgraph.post<{ me: { notifications: Inbox } }>(INBOX, { token: await issuer.tokenFor('alice') });
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    const inbox = response.data!.me.notifications;
    const mine = inbox.nodes.filter((node) => node.orderId === orderId);
    expect(mine.map((node) => node.kind)).toEqual(['ORDER_CONFIRMED', 'PAYMENT_SUCCEEDED', 'ORDER_PLACED']);
    expect(mine[2]).toMatchObject({ title: 'Order received', readAt: null, orderId });
    expect(mine[2]?.body).toContain('€89.00');
    expect(mine[1]?.body).toContain(`order ${orderId.slice(0, 8)}`);
    expect(inbox.unreadCount).toBeGreaterThanOrEqual(3);

    // Each was sent by email once stored, and the delivery recorded with a masked address.
    const deliveries = () => subgraph.service.orm.em.fork().find(NotificationDelivery, { notification: { $in: mine.map((node) => node.id) } });
    await eventually(async () => (await deliveries()).filter((delivery) => delivery.status === DeliveryStatus.SENT).length === 3, 'three emails are sent');
    expect((await deliveries()).map((delivery) => [delivery.maskedAddress, delivery.attempts])).toEqual(Array(3).fill(['a***e@agora.test', 1]));
    expect(sender.sent.find((message) => message.notificationId === mine[0]?.id)).toMatchObject({ channel: 'EMAIL', to: 'alice@agora.test', subject: 'Order confirmed' });
  });

  it('makes one notification of an event delivered twice', async () => {
    const orderId = randomUUID();
    const eventId = await publish('agora.order.cancelled.v1', { orderId, userId: devUserIds.bob, reason: 'payment declined' });
    await arrived(eventId);
    // The producer's relay sends it again (as after a crash before it recorded the publish), then one more event on the topic:
    // the topic is delivered in order, so once that one is stored the duplicate has been handled.
    await producer.em.fork().nativeUpdate(OutboxEvent, { id: eventId }, { sentAt: null });
    relay.notify();
    await eventually(async () => (await producer.em.fork().findOneOrFail(OutboxEvent, { id: eventId })).sentAt !== null, 'the event is published again');
    await arrived(await publish('agora.order.placed.v1', placed(devUserIds.bob, randomUUID())));
    expect(await subgraph.service.orm.em.fork().count(Notification, { orderId })).toBe(1);
    expect(sender.sent.filter((message) => message.subject === 'Order cancelled' && message.body.includes(orderId.slice(0, 8)))).toHaveLength(1);
  });

  it('pages through the inbox with first and after', async () => {
    const orderIds = Array.from({ length: 5 }, () => randomUUID());
    for (const orderId of orderIds) await arrived(await publish('agora.order.confirmed.v1', { orderId, userId: devUserIds.admin, total: money }));
    const seen: string[] = [];
    let after: string | undefined;
    for (const expected of [2, 2, 1]) {
      const page = await inboxOf('admin', { first: 2, ...(after ? { after } : {}) });
      expect(page.nodes).toHaveLength(expected);
      expect(page.totalCount).toBe(5);
      expect(page.hasNextPage).toBe(expected === 2);
      seen.push(...page.nodes.map((node) => node.orderId ?? ''));
      after = page.endCursor ?? undefined;
    }
    expect(seen).toEqual([...orderIds].reverse());
    const { errors } = await subgraph.execute(INBOX, { first: 2, after: 'bm90IGEgY3Vyc29y' }, 'admin');
    expect(errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });
});

describe("who sees a user's notifications", () => {
  let alices: InboxNode;
  beforeAll(async () => {
    const eventId = await publish('agora.payment.refunded.v1', { paymentId: randomUUID(), orderId: randomUUID(), userId: devUserIds.alice, amount: money });
    await arrived(eventId);
    const notification = await notificationOf(eventId);
    alices = (await inboxOf('alice', { first: 100 })).nodes.find((node) => node.id === notification?.id)!;
  });

  it("keeps alice's notification out of bob's inbox and refuses to let him mark it read", async () => {
    expect((await inboxOf('bob', { first: 100 })).nodes.some((node) => node.id === alices.id)).toBe(false);
    const { errors } = await subgraph.execute(MARK_READ, { id: alices.id }, 'bob');
    expect(errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    expect((await subgraph.service.orm.em.fork().findOneOrFail(Notification, { id: alices.id })).readAt).toBeNull();
  });

  it("refuses the inbox to anyone but its owner, admins included", async () => {
    const { errors } = await subgraph.execute('query($id: ID!) { user(id: $id) { notifications { totalCount } } }', { id: devUserIds.alice }, 'admin');
    expect(errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('lets alice mark it read, once', async () => {
    const unreadBefore = (await inboxOf('alice', { first: 1 })).unreadCount;
    const first = await subgraph.execute<{ markNotificationRead: { readAt: string } }>(MARK_READ, { id: alices.id }, 'alice');
    expect(first.errors).toBeUndefined();
    expect(Number.isNaN(Date.parse(first.data?.markNotificationRead.readAt ?? ''))).toBe(false);
    const again = await subgraph.execute<{ markNotificationRead: { readAt: string } }>(MARK_READ, { id: alices.id }, 'alice');
    expect(again.data?.markNotificationRead.readAt).toBe(first.data?.markNotificationRead.readAt);
    expect((await inboxOf('alice', { first: 1 })).unreadCount).toBe(unreadBefore - 1);
  });

  it('answers BAD_USER_INPUT for an id that is not a UUID and UNAUTHENTICATED without a user', async () => {
    expect((await subgraph.execute(MARK_READ, { id: 'nope' }, 'alice')).errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect((await subgraph.execute(MARK_READ, { id: alices.id })).errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});

describe('sending notifications out', () => {
  /** A notification to bob whose send failed (his mail provider fails until the caller clears sender.failing), with its delivery as stored now. */
  async function failedForBob() {
    sender.failing.add('bob@agora.test');
    const eventId = await publish('agora.payment.failed.v1', { paymentId: randomUUID(), orderId: randomUUID(), userId: devUserIds.bob, amount: money, reason: 'card declined' });
    await arrived(eventId);
    const notification = (await notificationOf(eventId))!;
    const delivery = () => subgraph.service.orm.em.fork().findOneOrFail(NotificationDelivery, { notification: notification.id });
    let failed: NotificationDeliveryEntity | undefined;
    await eventually(async () => (failed = await delivery()).status === DeliveryStatus.FAILED, 'the failed delivery is recorded');
    return { notification, failed: failed!, delivery };
  }

  it('keeps the notification when the sender fails, records the failure and sends it on a later try', async () => {
    const { notification, failed, delivery } = await failedForBob();
    // The provider recovers before the retry loop (every 200 ms) runs out of attempts.
    sender.failing.clear();
    expect(failed).toMatchObject({ lastError: 'the mail provider is unavailable', maskedAddress: 'b*b@agora.test', attempts: 1 });
    expect((await inboxOf('bob', { first: 100 })).nodes.some((node) => node.id === notification.id && node.kind === 'PAYMENT_FAILED')).toBe(true);

    await eventually(async () => (await delivery()).status === DeliveryStatus.SENT, 'the retry sends it');
    expect((await delivery()).attempts).toBeGreaterThanOrEqual(2);
  });

  it('holds no transaction open while a retried send waits in the sender, and records it when it ends', async () => {
    const { delivery } = await failedForBob();
    let release = () => {};
    sender.held = new Promise<void>((resolve) => (release = resolve));
    sender.failing.clear();
    try {
      await eventually(() => sender.waiting > 0, 'the retry loop waits in the sender');
      const open = await subgraph.service.orm.em
        .fork()
        .getConnection()
        .execute<{ pid: number }[]>("select pid from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'");
      expect(open).toEqual([]);
    } finally {
      release();
      sender.held = undefined;
    }
    await eventually(async () => (await delivery()).status === DeliveryStatus.SENT, 'the retried send is recorded');
  });

  it('holds no database connection while the sender works: with more sends waiting than the pool has connections, the inbox answers', async () => {
    // Events posted straight to the app's route, all at once, as a sidecar redelivering a backlog would.
    const events = Array.from({ length: 7 }, () => ({ specversion: '1.0', id: randomUUID(), source: 'agora/orders', type: 'agora.order.placed.v1', datacontenttype: 'application/json', data: placed(devUserIds.alice, randomUUID()) }));
    let release = () => {};
    sender.held = new Promise<void>((resolve) => (release = resolve));
    const posted = events.map((event) =>
      fetch(`http://127.0.0.1:${subgraph.service.port}/events/orders`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) }),
    );
    try {
      // Seven sends wait in the sender; the pool has five connections (DATABASE_POOL_MAX).
      await eventually(() => sender.waiting === events.length, 'every send waits in the sender');
      const started = performance.now();
      expect((await inboxOf('alice', { first: 1 })).totalCount).toBeGreaterThanOrEqual(events.length);
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      release();
      sender.held = undefined;
    }
    for (const answer of await Promise.all(posted)) expect(await answer.json()).toEqual({ status: 'SUCCESS' });
    for (const event of events) {
      await eventually(
        async () => (await subgraph.service.orm.em.fork().find(NotificationDelivery, { notification: { eventId: event.id } })).every((delivery) => delivery.status === DeliveryStatus.SENT),
        `the notification of ${event.id} is sent`,
      );
    }
  });

  it('stores the notification of a user it has never seen and skips sending it', async () => {
    const stranger = randomUUID();
    const eventId = await publish('agora.order.needs-attention.v1', { orderId: randomUUID(), userId: stranger, step: 'refund', error: 'provider timeout' });
    await arrived(eventId);
    const notification = (await notificationOf(eventId))!;
    expect(notification).toMatchObject({ userId: stranger, kind: 'ORDER_NEEDS_ATTENTION' });
    expect(notification.body).not.toContain('provider timeout');
    await eventually(
      async () => (await subgraph.service.orm.em.fork().findOneOrFail(NotificationDelivery, { notification: notification.id })).status === DeliveryStatus.SKIPPED,
      'the delivery is skipped',
    );
  });
});

describe('SMS notices', () => {
  const SET_PHONE = 'mutation($phone: String) { setPhoneNumber(phoneNumber: $phone) { id phoneNumber } }';
  const deliveriesOf = async (eventId: string) => {
    const notification = (await notificationOf(eventId))!;
    return subgraph.service.orm.em.fork().find(NotificationDelivery, { notification: notification.id }, { orderBy: { channel: 'asc' } });
  };
  const settled = (eventId: string) =>
    eventually(async () => (await deliveriesOf(eventId)).every((delivery) => delivery.status !== DeliveryStatus.PENDING), `the deliveries of ${eventId} are done`);

  it('sends how an order ended by SMS too to a user with a phone number, and everything else by email only', async () => {
    const bad = await subgraph.execute(SET_PHONE, { phone: '0151 12345' }, 'bob');
    expect(bad.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const set = await subgraph.execute<{ setPhoneNumber: { id: string; phoneNumber: string | null } }>(SET_PHONE, { phone: '+49 151 1234 5678' }, 'bob');
    expect(set.errors).toBeUndefined();
    expect(set.data?.setPhoneNumber).toEqual({ id: devUserIds.bob, phoneNumber: '+4915112345678' });
    try {
      const orderId = randomUUID();
      const confirmed = await publish('agora.order.confirmed.v1', { orderId, userId: devUserIds.bob, total: money });
      await arrived(confirmed);
      await settled(confirmed);
      expect((await deliveriesOf(confirmed)).map(({ channel, status, maskedAddress }) => ({ channel, status, maskedAddress }))).toEqual([
        { channel: 'EMAIL', status: 'SENT', maskedAddress: 'b*b@agora.test' },
        { channel: 'SMS', status: 'SENT', maskedAddress: '+49*********78' },
      ]);
      const sms = sender.sent.filter((message) => message.channel === 'SMS' && message.body.includes(orderId.slice(0, 8)));
      expect(sms).toEqual([expect.objectContaining({ to: '+4915112345678', subject: 'Order confirmed' })]);

      // Placing an order is news by email only.
      const placedEvent = await publish('agora.order.placed.v1', placed(devUserIds.bob, randomUUID()));
      await arrived(placedEvent);
      await settled(placedEvent);
      expect((await deliveriesOf(placedEvent)).map((delivery) => delivery.channel)).toEqual(['EMAIL']);

      // Alice has no phone number: no SMS delivery at all.
      const alices = await publish('agora.order.cancelled.v1', { orderId: randomUUID(), userId: devUserIds.alice, reason: 'payment declined' });
      await arrived(alices);
      await settled(alices);
      expect((await deliveriesOf(alices)).map((delivery) => delivery.channel)).toEqual(['EMAIL']);
    } finally {
      const removed = await subgraph.execute<{ setPhoneNumber: { phoneNumber: string | null } }>(SET_PHONE, { phone: null }, 'bob');
      expect(removed.data?.setPhoneNumber.phoneNumber).toBeNull();
    }
  });
});
