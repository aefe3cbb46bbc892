import { Redis } from 'ioredis';

// The pub/sub component keeps one Redis stream per topic (entries with `data` and `metadata`
// fields, as components-contrib's pubsub.redis writes them) and one consumer group per
// subscribing app. These helpers read its backlog and re-publish delivered entries.

export const TOPICS = ['orders', 'payments', 'inventory'] as const;

export function connectRedis(url: string): Redis {
  // RESP2 keeps XINFO and XRANGE replies as flat arrays.
  const client = new Redis(url, { protocol: 2, maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

export interface GroupBacklog {
  topic: string;
  group: string;
  /** Delivered but not acknowledged. */
  pending: number;
  /** Not yet delivered (null when Redis cannot tell). */
  lag: number | null;
}

function fieldsOf(reply: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (!Array.isArray(reply)) return map;
  for (let index = 0; index + 1 < reply.length; index += 2) map.set(String(reply[index]), reply[index + 1]);
  return map;
}

/** Every consumer group of every topic stream, with what it has not yet processed. */
export async function streamBacklog(redis: Redis): Promise<GroupBacklog[]> {
  const backlog: GroupBacklog[] = [];
  for (const topic of TOPICS) {
    if ((await redis.exists(topic)) === 0) continue;
    const groups = (await redis.call('XINFO', 'GROUPS', topic)) as unknown[];
    for (const group of groups) {
      const fields = fieldsOf(group);
      const lag = fields.get('lag');
      backlog.push({ topic, group: String(fields.get('name')), pending: Number(fields.get('pending')), lag: lag === null || lag === undefined ? null : Number(lag) });
    }
  }
  return backlog;
}

/** Entries in a topic stream (how many events were ever published to it, re-publications included). */
export async function streamLengths(redis: Redis): Promise<Record<string, number>> {
  const lengths: Record<string, number> = {};
  for (const topic of TOPICS) lengths[topic] = await redis.xlen(topic);
  return lengths;
}

function shuffle<T>(items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [items[index], items[other]] = [items[other] as T, items[index] as T];
  }
  return items;
}

/**
 * Publishes every entry already in the topic streams once more, all topics interleaved in a
 * random order: each consumer group receives each CloudEvent again (same event id), out of order.
 * Returns how many were re-published.
 */
export async function republishShuffled(redis: Redis): Promise<number> {
  const entries: { topic: string; fields: string[] }[] = [];
  for (const topic of TOPICS) {
    const range = (await redis.call('XRANGE', topic, '-', '+')) as [string, string[]][];
    for (const [, fields] of range) entries.push({ topic, fields });
  }
  for (const entry of shuffle(entries)) await redis.call('XADD', entry.topic, '*', ...entry.fields);
  return entries.length;
}
