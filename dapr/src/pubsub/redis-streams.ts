import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@agora/service';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { ComponentInput } from '../components/registry.ts';
import { ResourceError } from '../components/resources.ts';
import { parseDuration } from '../resiliency/duration.ts';
import type { DeliveryOutcome, PubSub, PublishedMessage, ReceivedMessage, SubscribeOptions, Subscription } from './pubsub.ts';

// pubsub.redis: Redis Streams as components-contrib's redis pub/sub stores them (one stream per
// topic, entries with a `data` field and a JSON `metadata` field), so daprd sidecars and these
// ones can share a Redis. Each subscription reads with XREADGROUP in the consumer group
// `consumerID` (default: the app id) on its own blocking connection, and XACKs an entry only
// once the handler acknowledged it. Entries left unacknowledged (a RETRY, a crash, a shutdown
// mid-delivery) stay in the group's pending list; every `redeliverInterval` the subscription
// claims those idle for `processingTimeout` (XPENDING + XCLAIM) and delivers them again.

const READ_BLOCK_MS = 5_000;
/** Pause after a failed read, growing while Redis stays unreachable. */
const READ_ERROR_BACKOFF = new ExponentialBackoff({ initialDelay: 200, maxDelay: 5_000 });

const duration = (fallbackMs: number) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value === '') return fallbackMs;
      const ms = parseDuration(value);
      if (ms === undefined) {
        context.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(value)} (expected e.g. 30s, or milliseconds)` });
        return z.NEVER;
      }
      return ms;
    });

const count = (fallback: number, min: number) =>
  z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === '' ? fallback : Number(value)))
    .pipe(z.number().int().min(min));

const settingsSchema = z.object({
  redisHost: z.string({ error: 'is required' }).regex(/^(?:\[[^\]]+\]|[^:]+):\d+$/, 'expected host:port'),
  redisUsername: z.string().optional(),
  redisPassword: z.string().optional(),
  redisDB: count(0, 0),
  enableTLS: z.stringbool().optional(),
  consumerID: z.string().optional(),
  concurrency: count(10, 1),
  queueDepth: count(100, 1),
  processingTimeout: duration(60_000),
  redeliverInterval: duration(15_000),
  maxLenApprox: count(0, 0),
});

export type RedisStreamsSettings = z.infer<typeof settingsSchema>;

/** Component metadata names are case-insensitive in daprd. */
export function parseRedisStreamsSettings(component: string, metadata: Record<string, string>): RedisStreamsSettings {
  const canonical = new Map(Object.keys(settingsSchema.shape).map((key) => [key.toLowerCase(), key]));
  const input = Object.fromEntries(Object.entries(metadata).map(([key, value]) => [canonical.get(key.toLowerCase()) ?? key, value]));
  const result = settingsSchema.safeParse(input);
  if (!result.success) {
    throw new ResourceError(`pubsub ${component}: ${result.error.issues.map((issue) => `metadata ${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return result.data;
}

function connectionOptions(settings: RedisStreamsSettings): RedisOptions {
  const separator = settings.redisHost.lastIndexOf(':');
  return {
    host: settings.redisHost.slice(0, separator).replace(/^\[(.*)\]$/, '$1'),
    port: Number(settings.redisHost.slice(separator + 1)),
    ...(settings.redisUsername ? { username: settings.redisUsername } : {}),
    ...(settings.redisPassword ? { password: settings.redisPassword } : {}),
    db: settings.redisDB,
    ...(settings.enableTLS ? { tls: {} } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    // RESP2: stream replies keep the nested [[stream, entries]] shape parsed below (ioredis 6
    // speaks RESP3 by default, where XREADGROUP through call() answers a flat map).
    protocol: 2,
  };
}

interface StreamEntry {
  id: string;
  /** Null when the entry was trimmed from the stream after being read. */
  fields: Buffer[] | null;
}

function unexpectedReply(command: string, reply: unknown): never {
  throw new Error(`unexpected ${command} reply from redis: ${(reply === undefined ? 'undefined' : JSON.stringify(reply)).slice(0, 200)}`);
}

function parseEntries(command: string, reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) unexpectedReply(command, reply);
  return reply.map((item: unknown) => {
    if (!Array.isArray(item) || !Buffer.isBuffer(item[0])) unexpectedReply(command, reply);
    const fields: unknown = item[1];
    if (fields !== null && !(Array.isArray(fields) && fields.every((field) => Buffer.isBuffer(field)))) unexpectedReply(command, reply);
    return { id: item[0].toString(), fields };
  });
}

/** XREADGROUP answers null on timeout, else [[stream, entries]]. */
function parseReadReply(reply: unknown): StreamEntry[] {
  if (reply === null) return [];
  if (!Array.isArray(reply)) unexpectedReply('XREADGROUP', reply);
  return reply.flatMap((stream: unknown) => (Array.isArray(stream) ? parseEntries('XREADGROUP', stream[1]) : unexpectedReply('XREADGROUP', reply)));
}

/** XPENDING's extended form: [[id, consumer, idle ms, deliveries], …]; only the ids matter here. */
function parsePendingIds(reply: unknown): string[] {
  if (!Array.isArray(reply)) unexpectedReply('XPENDING', reply);
  return reply.map((item: unknown) => (Array.isArray(item) && typeof item[0] === 'string' ? item[0] : unexpectedReply('XPENDING', reply)));
}

function metadataOf(raw: Buffer | undefined, id: string, logger: Logger): Record<string, string> {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
  } catch {
    // Reported below, as for any other shape.
  }
  logger.warn({ messageId: id }, 'redis streams: could not read the metadata of a message; delivering it without');
  return {};
}

function toReceived(topic: string, id: string, fields: Buffer[], logger: Logger): ReceivedMessage {
  const values = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(String(fields[i]), fields[i + 1] as Buffer);
  const metadata = metadataOf(values.get('metadata'), id, logger);
  return { id, topic, data: values.get('data') ?? Buffer.alloc(0), contentType: metadata['content-type'] ?? 'application/json', metadata };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

interface ConsumerOptions {
  client: Redis;
  settings: RedisStreamsSettings;
  topic: string;
  group: string;
  handler: (message: ReceivedMessage) => Promise<DeliveryOutcome>;
  logger: Logger;
}

/** One subscription: a read loop on a dedicated connection, a reclaim loop, and the deliveries in progress. */
class StreamConsumer implements Subscription {
  readonly #options: ConsumerOptions;
  readonly #reader: Redis;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();
  #loops: Promise<void>[] = [];

  constructor(options: ConsumerOptions) {
    this.#options = options;
    this.#reader = options.client.duplicate();
    this.#reader.on('error', (error: unknown) => {
      if (!this.#stopped()) options.logger.debug({ topic: options.topic, error: errorText(error) }, 'redis streams: reader connection error');
    });
  }

  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async start(): Promise<void> {
    try {
      await this.#createGroup();
      await this.#reader.connect();
    } catch (error) {
      this.#stop.abort();
      this.#reader.disconnect();
      throw error;
    }
    this.#loops = [this.#readLoop(), this.#reclaimLoop()];
  }

  async close(): Promise<void> {
    if (this.#stopped()) return;
    this.#stop.abort();
    this.#reader.disconnect();
    await Promise.all(this.#loops);
    await Promise.all(this.#inFlight.values());
  }

  async #createGroup(): Promise<void> {
    const { client, topic, group } = this.#options;
    // From "0": a group created after messages were published still gets them (as daprd).
    await client.call('XGROUP', 'CREATE', topic, group, '0', 'MKSTREAM').catch((error: unknown) => {
      if (!errorText(error).startsWith('BUSYGROUP')) throw error;
    });
  }

  /** Waits until fewer than `concurrency` deliveries are in progress; returns how many may start. */
  async #freeSlots(): Promise<number> {
    const { concurrency } = this.#options.settings;
    while (this.#inFlight.size >= concurrency && !this.#stopped()) await Promise.race(this.#inFlight.values());
    return concurrency - this.#inFlight.size;
  }

  async #readLoop(): Promise<void> {
    const { topic, group, logger } = this.#options;
    let backoff: IBackoff<unknown> | undefined;
    while (!this.#stopped()) {
      const free = await this.#freeSlots();
      if (this.#stopped()) return;
      try {
        const reply = await this.#reader.callBuffer('XREADGROUP', 'GROUP', group, group, 'COUNT', free, 'BLOCK', READ_BLOCK_MS, 'STREAMS', topic, '>');
        backoff = undefined;
        for (const entry of parseReadReply(reply)) this.#dispatch(entry);
      } catch (error) {
        if (this.#stopped()) return;
        if (errorText(error).includes('NOGROUP')) {
          logger.warn({ topic, group }, 'redis streams: the consumer group or stream is gone (data loss, or deleted); recreating it');
          await this.#createGroup().catch(() => undefined);
        } else {
          logger.error({ topic, error: errorText(error) }, 'redis streams: error reading from stream');
        }
        backoff = backoff ? backoff.next(undefined) : READ_ERROR_BACKOFF.next();
        await sleep(backoff.duration, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }

  async #reclaimLoop(): Promise<void> {
    const { settings, topic, logger } = this.#options;
    // As components-contrib: a zero processingTimeout or redeliverInterval disables redelivery.
    if (settings.processingTimeout === 0 || settings.redeliverInterval === 0) return;
    while (!this.#stopped()) {
      await this.#reclaim().catch((error: unknown) => {
        if (!this.#stopped()) logger.error({ topic, error: errorText(error) }, 'redis streams: error reclaiming pending messages');
      });
      await sleep(settings.redeliverInterval, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    }
  }

  /** Claims and redelivers the entries pending longer than processingTimeout that no delivery here holds. */
  async #reclaim(): Promise<void> {
    const { client, settings, topic, group } = this.#options;
    for (;;) {
      const pending = parsePendingIds(await client.call('XPENDING', topic, group, 'IDLE', settings.processingTimeout, '-', '+', settings.queueDepth));
      const ids = pending.filter((id) => !this.#inFlight.has(id));
      if (ids.length === 0 || this.#stopped()) return;
      const claimed = parseEntries('XCLAIM', await client.callBuffer('XCLAIM', topic, group, group, settings.processingTimeout, ...ids));
      const claimedIds = new Set(claimed.map((entry) => entry.id));
      // Entries trimmed from the stream (MAXLEN) cannot be claimed; drop them from the pending list.
      const gone = ids.filter((id) => !claimedIds.has(id));
      if (gone.length > 0) await client.call('XACK', topic, group, ...gone);
      for (const entry of claimed) {
        await this.#freeSlots();
        if (this.#stopped()) return;
        this.#dispatch(entry);
      }
      if (pending.length < settings.queueDepth) return;
    }
  }

  #dispatch(entry: StreamEntry): void {
    if (this.#inFlight.has(entry.id)) return;
    const delivery = this.#deliver(entry).finally(() => this.#inFlight.delete(entry.id));
    this.#inFlight.set(entry.id, delivery);
  }

  async #deliver(entry: StreamEntry): Promise<void> {
    const { topic, handler, logger } = this.#options;
    if (!entry.fields) {
      await this.#ack(entry.id);
      return;
    }
    let outcome: DeliveryOutcome;
    try {
      outcome = await handler(toReceived(topic, entry.id, entry.fields, logger));
    } catch (error) {
      logger.error({ topic, messageId: entry.id, error: errorText(error) }, 'redis streams: error processing message; it stays pending for redelivery');
      outcome = 'retry';
    }
    if (outcome === 'ack') await this.#ack(entry.id);
  }

  /**
   * Retries an XACK that failed (Redis restarting, a connection lost) until it succeeds: the app has
   * handled the message, and an entry left pending would be delivered again after processingTimeout.
   * The entry stays in flight meanwhile, so the reclaim loop leaves it alone. Only a stop gives up,
   * leaving it pending for redelivery (at least once).
   */
  async #ack(id: string): Promise<void> {
    const { client, topic, group, logger } = this.#options;
    let backoff: IBackoff<unknown> | undefined;
    for (;;) {
      try {
        await client.call('XACK', topic, group, id);
        if (backoff) logger.info({ topic, messageId: id }, 'redis streams: acknowledged the message after retrying');
        return;
      } catch (error) {
        if (this.#stopped()) {
          logger.error({ topic, messageId: id, error: errorText(error) }, 'redis streams: error acknowledging message while stopping; it will be redelivered');
          return;
        }
        if (!backoff) logger.warn({ topic, messageId: id, error: errorText(error) }, 'redis streams: error acknowledging message; retrying');
        backoff = backoff ? backoff.next(undefined) : READ_ERROR_BACKOFF.next();
        await sleep(backoff.duration, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }
}

export class RedisStreamsPubSub implements PubSub {
  readonly name: string;
  readonly #client: Redis;
  readonly #settings: RedisStreamsSettings;
  readonly #logger: Logger;
  readonly #consumers = new Set<StreamConsumer>();
  #closed = false;

  constructor(name: string, client: Redis, settings: RedisStreamsSettings, logger: Logger) {
    this.name = name;
    this.#client = client;
    this.#settings = settings;
    this.#logger = logger;
  }

  async publish(message: PublishedMessage): Promise<void> {
    if (this.#closed) throw new Error(`pubsub ${this.name} is closed`);
    const trim = this.#settings.maxLenApprox > 0 ? ['MAXLEN', '~', this.#settings.maxLenApprox] : [];
    await this.#client.call('XADD', message.topic, ...trim, '*', 'data', message.data, 'metadata', JSON.stringify(message.metadata));
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new Error(`pubsub ${this.name} is closed`);
    const consumer = new StreamConsumer({
      client: this.#client,
      settings: this.#settings,
      topic: options.topic,
      group: this.#settings.consumerID ?? options.consumerGroup,
      handler: options.handler,
      logger: this.#logger,
    });
    await consumer.start();
    this.#consumers.add(consumer);
    return {
      close: async () => {
        this.#consumers.delete(consumer);
        await consumer.close();
      },
    };
  }

  async ping(): Promise<void> {
    await this.#client.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#consumers].map((consumer) => consumer.close()));
    this.#consumers.clear();
    await this.#client.quit().catch(() => this.#client.disconnect());
  }
}

export async function redisStreamsPubSub(input: ComponentInput): Promise<PubSub> {
  const settings = parseRedisStreamsSettings(input.name, input.metadata);
  const client = new Redis(connectionOptions(settings));
  client.on('error', (error: unknown) => input.logger.warn({ error: errorText(error) }, 'redis streams: connection error'));
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new ResourceError(`pubsub ${input.name}: cannot connect to redis at ${settings.redisHost}: ${errorText(error)}`);
  }
  return new RedisStreamsPubSub(input.name, client, settings, input.logger);
}
