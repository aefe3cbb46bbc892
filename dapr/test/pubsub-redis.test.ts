import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@agora/service';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome, PubSub, ReceivedMessage, Subscription } from '../src/pubsub/pubsub.ts';
import { redisStreamsPubSub } from '../src/pubsub/redis-streams.ts';

const logger = createLogger('pubsub-redis-test', 'silent');
const run = randomUUID().slice(0, 8);
const streams: string[] = [];
const opened: PubSub[] = [];
let admin: Redis;

/** A stream name unique to this run, deleted afterwards. */
function topic(name: string): string {
  const stream = `agora-test-${run}-${name}`;
  streams.push(stream);
  return stream;
}

async function openPubSub(metadata: Record<string, string> = {}): Promise<PubSub> {
  const pubsub = await redisStreamsPubSub({ name: 'pubsub', metadata: { redisHost: '127.0.0.1:6379', ...metadata }, appId: 'orders', baseDir: '.', logger, env: {} });
  opened.push(pubsub);
  return pubsub;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const publishText = (pubsub: PubSub, stream: string, text: string, metadata: Record<string, string> = {}) =>
  pubsub.publish({ topic: stream, data: Buffer.from(text), contentType: 'text/plain', metadata });

const pendingCount = async (stream: string, group: string) => ((await admin.call('XPENDING', stream, group)) as [number])[0];

beforeAll(() => {
  admin = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((pubsub) => pubsub.close()));
});

afterAll(async () => {
  if (streams.length > 0) await admin.del(...streams);
  await admin.quit();
});

describe('pubsub.redis (Redis Streams)', () => {
  it('delivers the published bytes and metadata, then acknowledges the message', async () => {
    const pubsub = await openPubSub();
    const stream = topic('roundtrip');
    const received: ReceivedMessage[] = [];
    await pubsub.subscribe({ topic: stream, consumerGroup: 'orders', handler: async (message) => (received.push(message), 'ack') });
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    await pubsub.publish({ topic: stream, data: bytes, contentType: 'application/octet-stream', metadata: { ttlInSeconds: '60', custom: 'yes' } });
    await eventually(() => received.length === 1, 'the message arrives');
    expect(received[0]?.data.equals(bytes)).toBe(true);
    expect(received[0]?.metadata).toEqual({ ttlInSeconds: '60', custom: 'yes' });
    expect(received[0]?.topic).toBe(stream);
    await eventually(async () => (await pendingCount(stream, 'orders')) === 0, 'the message is acknowledged');
  });

  it('stores entries as components-contrib does (data and JSON metadata fields) and trims with MAXLEN ~', async () => {
    const pubsub = await openPubSub({ maxLenApprox: '10' });
    const stream = topic('format');
    await publishText(pubsub, stream, 'first', { a: 'b' });
    const [entry] = (await admin.call('XRANGE', stream, '-', '+')) as [string, string[]][];
    expect(entry?.[1]).toEqual(['data', 'first', 'metadata', '{"a":"b"}']);
    for (let i = 0; i < 300; i += 1) await publishText(pubsub, stream, `m${i}`);
    expect(await admin.xlen(stream)).toBeLessThan(300);
  });

  it('shares the messages of one consumer group among its subscribers, while another group gets them all', async () => {
    const stream = topic('groups');
    const [first, second, other] = [await openPubSub({ concurrency: '1' }), await openPubSub({ concurrency: '1' }), await openPubSub()];
    const byConsumer: [string[], string[]] = [[], []];
    let bothBusy: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (bothBusy = resolve));
    const sharing = (mine: string[]) => async (message: ReceivedMessage): Promise<DeliveryOutcome> => {
      mine.push(message.data.toString());
      // Each subscriber holds its first message until the other has one too, so neither can take all.
      if (byConsumer[0].length > 0 && byConsumer[1].length > 0) bothBusy();
      await gate;
      return 'ack';
    };
    const everything: string[] = [];
    await first.subscribe({ topic: stream, consumerGroup: 'orders', handler: sharing(byConsumer[0]) });
    await second.subscribe({ topic: stream, consumerGroup: 'orders', handler: sharing(byConsumer[1]) });
    await other.subscribe({ topic: stream, consumerGroup: 'payments', handler: async (message) => (everything.push(message.data.toString()), 'ack') });
    const sent = Array.from({ length: 20 }, (_, i) => `message-${i}`);
    for (const text of sent) await publishText(first, stream, text);
    await eventually(() => byConsumer[0].length + byConsumer[1].length === 20 && everything.length === 20, 'every message is delivered');
    expect([...byConsumer[0], ...byConsumer[1]].sort()).toEqual([...sent].sort());
    expect(byConsumer[0].length).toBeGreaterThan(0);
    expect(byConsumer[1].length).toBeGreaterThan(0);
    expect(everything.sort()).toEqual([...sent].sort());
  });

  it('redelivers a message whose handler asked for a retry once it has been pending for processingTimeout', async () => {
    const pubsub = await openPubSub({ processingTimeout: '200ms', redeliverInterval: '50ms' });
    const stream = topic('retry');
    const attempts: string[] = [];
    await pubsub.subscribe({ topic: stream, consumerGroup: 'orders', handler: async (message) => (attempts.push(message.id), attempts.length < 3 ? 'retry' : 'ack') });
    await publishText(pubsub, stream, 'try again');
    await eventually(() => attempts.length === 3, 'the message is delivered three times');
    expect(new Set(attempts).size).toBe(1);
    await eventually(async () => (await pendingCount(stream, 'orders')) === 0, 'the third delivery is acknowledged');
  });

  it('redelivers a message to another consumer of the group when the process that had it dies before acknowledging', async () => {
    const stream = topic('crash');
    const subscriber = startDoomedSubscriber(stream);
    const firstDelivery = await subscriber.received;
    expect(firstDelivery).toMatch(/^\d+-\d+$/);
    subscriber.child.kill('SIGKILL');
    await new Promise((resolve) => subscriber.child.once('exit', resolve));
    const survivor = await openPubSub({ processingTimeout: '300ms', redeliverInterval: '50ms' });
    const redelivered: ReceivedMessage[] = [];
    await survivor.subscribe({ topic: stream, consumerGroup: 'orders', handler: async (message) => (redelivered.push(message), 'ack') });
    await eventually(() => redelivered.length === 1, 'the survivor gets the message');
    expect(redelivered[0]?.id).toBe(firstDelivery);
    expect(redelivered[0]?.data.toString()).toBe('in flight when the process died');
    await eventually(async () => (await pendingCount(stream, 'orders')) === 0, 'the survivor acknowledges it');
  });

  it('loses nothing across a subscriber restart: unacknowledged and newly published messages reach the next subscriber', async () => {
    const stream = topic('restart');
    const settings = { concurrency: '1', processingTimeout: '200ms', redeliverInterval: '50ms' };
    const publisher = await openPubSub();
    const sent = Array.from({ length: 10 }, (_, i) => `before-${i}`);
    for (const text of sent) await publishText(publisher, stream, text);
    const acknowledged: string[] = [];
    const firstRun = await openPubSub(settings);
    let closing: Promise<void> | undefined;
    let subscription: Subscription | undefined = undefined;
    subscription = await firstRun.subscribe({
      topic: stream,
      consumerGroup: 'orders',
      handler: async (message) => {
        if (acknowledged.length < 5) {
          acknowledged.push(message.data.toString());
          return 'ack';
        }
        // The sixth message is in hand when the subscriber stops: it must not be lost.
        closing ??= subscription?.close();
        return 'retry';
      },
    });
    await eventually(() => closing !== undefined, 'the first subscriber stops mid-stream');
    await closing;
    const later = Array.from({ length: 5 }, (_, i) => `while-down-${i}`);
    for (const text of later) await publishText(publisher, stream, text);
    const secondRun = await openPubSub(settings);
    await secondRun.subscribe({ topic: stream, consumerGroup: 'orders', handler: async (message) => (acknowledged.push(message.data.toString()), 'ack') });
    await eventually(() => acknowledged.length >= 15, 'every message is acknowledged');
    expect([...acknowledged].sort()).toEqual([...sent, ...later].sort());
    await eventually(async () => (await pendingCount(stream, 'orders')) === 0, 'nothing is left pending');
  });

  it('names the component and the field when its metadata is invalid', async () => {
    await expect(redisStreamsPubSub({ name: 'events', metadata: { processingTimeout: 'soon' }, appId: 'orders', baseDir: '.', logger, env: {} })).rejects.toThrow(
      /pubsub events: metadata redisHost: .*; metadata processingTimeout: invalid duration "soon"/,
    );
  });
});

/** A separate Node process that subscribes, reports the first message it gets and never acknowledges it. */
function startDoomedSubscriber(stream: string): { child: ChildProcess; received: Promise<string> } {
  const module = fileURLToPath(new URL('../src/pubsub/redis-streams.ts', import.meta.url));
  const script = `
    const { redisStreamsPubSub } = await import(${JSON.stringify(module)});
    const logger = { child: () => logger, debug() {}, info() {}, warn() {}, error() {} };
    const pubsub = await redisStreamsPubSub({ name: 'pubsub', metadata: { redisHost: '127.0.0.1:6379' }, appId: 'orders', baseDir: '.', logger, env: {} });
    await pubsub.subscribe({ topic: ${JSON.stringify(stream)}, consumerGroup: 'orders', handler: (message) => {
      process.stdout.write('received ' + message.id + '\\n');
      return new Promise(() => {});
    } });
    await pubsub.publish({ topic: ${JSON.stringify(stream)}, data: Buffer.from('in flight when the process died'), contentType: 'text/plain', metadata: {} });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const received = new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /received (\S+)\n/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the subscriber process exited (${code}) before receiving`)));
  });
  return { child, received };
}
