import { randomBytes } from 'node:crypto';
import { createLogger } from '@agora/service';
import { createTestDatabase, type TestDatabase } from '@agora/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentInput } from '../src/components/registry.ts';
import { createInMemoryStateStore } from '../src/state/in-memory.ts';
import { createPostgresStateStore, parseDurationMs, poolConfig } from '../src/state/postgresql.ts';
import { createRedisStateStore } from '../src/state/redis.ts';
import {
  EtagInvalidError,
  EtagMismatchError,
  type DeleteOperation,
  type SetOperation,
  type StateStore,
  type StoredState,
  type TransactionOperation,
} from '../src/state/state-store.ts';

const logger = createLogger('state-stores-test', 'silent');
const run = randomBytes(4).toString('hex');
const REDIS_HOST = '127.0.0.1:6379';

const input = (name: string, metadata: Record<string, string>): ComponentInput => ({ name, metadata, appId: 'test-app', baseDir: '.', logger, env: {} });
const bytes = (text: string) => Buffer.from(text, 'utf8');
const upsert = (key: string, value: string | Buffer, extra: Partial<SetOperation> = {}): SetOperation => ({
  key,
  value: typeof value === 'string' ? bytes(value) : value,
  etag: undefined,
  concurrency: 'last-write',
  ttlSeconds: undefined,
  ...extra,
});
const remove = (key: string, extra: Partial<DeleteOperation> = {}): DeleteOperation => ({ key, etag: undefined, concurrency: 'last-write', ...extra });

/** Polls until `done` holds, failing after the deadline (no fixed sleeps). */
async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 6_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${deadlineMs} ms (last value: ${JSON.stringify(value)})`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
}

async function stored(store: StateStore, key: string): Promise<StoredState> {
  const state = await store.get(key);
  if (!state) throw new Error(`expected state for ${key}`);
  return state;
}

interface ContractOptions {
  /** An etag whose form the store can never produce: rejected as invalid (400) rather than as a mismatch. */
  foreignEtag: string | undefined;
}

/** The behaviour every StateStore shares, run against each implementation. */
function stateStoreContract(label: string, open: () => Promise<StateStore>, options: ContractOptions): void {
  describe(`${label} (StateStore contract)`, () => {
    let store: StateStore;
    let counter = 0;
    const freshKey = (name: string) => `contract-${run}||${name}-${++counter}`;

    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('returns nothing for a key that was never saved', async () => {
      expect(await store.get(freshKey('missing'))).toBeUndefined();
    });

    it('returns exactly the bytes it was given, with an etag', async () => {
      const jsonKey = freshKey('json');
      const binaryKey = freshKey('binary');
      const json = bytes('{ "b": 1,  "a": [true, null, "ü"] }');
      const binary = Buffer.from([0, 255, 254, 10, 0x80, 0xc3]);
      await store.set(upsert(jsonKey, json));
      await store.set(upsert(binaryKey, binary));
      const jsonState = await stored(store, jsonKey);
      expect(jsonState.value.equals(json)).toBe(true);
      expect(jsonState.etag).not.toBe('');
      expect(jsonState.expiresAt).toBeUndefined();
      expect((await stored(store, binaryKey)).value.equals(binary)).toBe(true);
    });

    it('gives a state a new etag on every write', async () => {
      const key = freshKey('etags');
      await store.set(upsert(key, '1'));
      const first = (await stored(store, key)).etag;
      await store.set(upsert(key, '2'));
      expect((await stored(store, key)).etag).not.toBe(first);
    });

    it('saves when the given etag matches the stored one', async () => {
      const key = freshKey('match');
      await store.set(upsert(key, '"v1"'));
      const { etag } = await stored(store, key);
      await store.set(upsert(key, '"v2"', { etag, concurrency: 'first-write' }));
      expect((await stored(store, key)).value.toString()).toBe('"v2"');
    });

    it('rejects a save whose etag does not match, keeping the stored value', async () => {
      const key = freshKey('mismatch');
      await store.set(upsert(key, '"v1"'));
      const { etag } = await stored(store, key);
      await store.set(upsert(key, '"v2"'));
      await expect(store.set(upsert(key, '"v3"', { etag, concurrency: 'first-write' }))).rejects.toBeInstanceOf(EtagMismatchError);
      await expect(store.set(upsert(key, '"v3"', { etag, concurrency: 'last-write' }))).rejects.toBeInstanceOf(EtagMismatchError);
      expect((await stored(store, key)).value.toString()).toBe('"v2"');
    });

    it('rejects a save with an etag for a key that does not exist', async () => {
      const key = freshKey('absent');
      await store.set(upsert(key, '1'));
      const { etag } = await stored(store, key);
      await store.delete(remove(key));
      await expect(store.set(upsert(key, '2', { etag }))).rejects.toBeInstanceOf(EtagMismatchError);
      expect(await store.get(key)).toBeUndefined();
    });

    it('creates with first-write and no etag only when the key is absent', async () => {
      const key = freshKey('first-write');
      await store.set(upsert(key, '"created"', { concurrency: 'first-write' }));
      await expect(store.set(upsert(key, '"again"', { concurrency: 'first-write' }))).rejects.toBeInstanceOf(EtagMismatchError);
      expect((await stored(store, key)).value.toString()).toBe('"created"');
    });

    it('overwrites with last-write and no etag', async () => {
      const key = freshKey('last-write');
      await store.set(upsert(key, '1'));
      await store.set(upsert(key, '2', { concurrency: 'last-write' }));
      expect((await stored(store, key)).value.toString()).toBe('2');
    });

    it('deletes only when the given etag matches', async () => {
      const key = freshKey('delete-etag');
      await store.set(upsert(key, '1'));
      const { etag: stale } = await stored(store, key);
      await store.set(upsert(key, '2'));
      await expect(store.delete(remove(key, { etag: stale }))).rejects.toBeInstanceOf(EtagMismatchError);
      const { etag } = await stored(store, key);
      await store.delete(remove(key, { etag }));
      expect(await store.get(key)).toBeUndefined();
      await expect(store.delete(remove(key, { etag }))).rejects.toBeInstanceOf(EtagMismatchError);
    });

    it('deletes without an etag, also a key that does not exist', async () => {
      const key = freshKey('delete');
      await store.set(upsert(key, '1'));
      await store.delete(remove(key, { concurrency: 'first-write' }));
      expect(await store.get(key)).toBeUndefined();
      await expect(store.delete(remove(key))).resolves.toBeUndefined();
    });

    it('rejects an etag it could not have produced', async () => {
      const key = freshKey('foreign-etag');
      await store.set(upsert(key, '1'));
      const etag = options.foreignEtag ?? 'no-such-etag';
      const expected = options.foreignEtag ? EtagInvalidError : EtagMismatchError;
      await expect(store.set(upsert(key, '2', { etag }))).rejects.toBeInstanceOf(expected);
      await expect(store.delete(remove(key, { etag }))).rejects.toBeInstanceOf(expected);
      expect((await stored(store, key)).value.toString()).toBe('1');
    });

    it('expires a state saved with a ttl', async () => {
      const key = freshKey('ttl');
      const before = Date.now();
      await store.set(upsert(key, '"short-lived"', { ttlSeconds: 1 }));
      const state = await stored(store, key);
      expect(state.expiresAt).toBeGreaterThan(before);
      expect(state.expiresAt).toBeLessThanOrEqual(Date.now() + 1_100);
      await eventually(() => store.get(key), (value) => value === undefined);
      expect((await store.bulkGet([key])).size).toBe(0);
    });

    it('keeps a state saved with ttl -1, and a later save without ttl drops an earlier expiry', async () => {
      const forever = freshKey('ttl-forever');
      await store.set(upsert(forever, '1', { ttlSeconds: -1 }));
      expect((await stored(store, forever)).expiresAt).toBeUndefined();
      const renewed = freshKey('ttl-renewed');
      await store.set(upsert(renewed, '1', { ttlSeconds: 1 }));
      await store.set(upsert(renewed, '2'));
      expect((await stored(store, renewed)).expiresAt).toBeUndefined();
    });

    it('bulk-gets the stored keys and leaves missing ones out', async () => {
      const a = freshKey('bulk-a');
      const b = freshKey('bulk-b');
      await store.set(upsert(a, '"a"'));
      await store.set(upsert(b, '"b"'));
      const found = await store.bulkGet([a, freshKey('bulk-missing'), b]);
      expect([...found.keys()].sort()).toEqual([a, b].sort());
      expect(found.get(a)?.value.toString()).toBe('"a"');
      expect(found.get(b)?.etag).toBe((await stored(store, b)).etag);
    });

    it('applies every operation of a transaction, later ones seeing earlier ones', async () => {
      const kept = freshKey('tx-kept');
      const dropped = freshKey('tx-dropped');
      await store.set(upsert(dropped, '"old"'));
      const { etag } = await stored(store, dropped);
      await store.transaction([
        { operation: 'upsert', ...upsert(kept, '"new"', { concurrency: 'first-write' }) },
        { operation: 'delete', ...remove(dropped, { etag }) },
        { operation: 'upsert', ...upsert(dropped, '"recreated"', { concurrency: 'first-write' }) },
      ]);
      expect((await stored(store, kept)).value.toString()).toBe('"new"');
      expect((await stored(store, dropped)).value.toString()).toBe('"recreated"');
    });

    it('applies nothing of a transaction when one operation fails', async () => {
      const a = freshKey('tx-a');
      const b = freshKey('tx-b');
      await store.set(upsert(a, '"a1"'));
      await store.set(upsert(b, '"b1"'));
      const { etag: staleB } = await stored(store, b);
      await store.set(upsert(b, '"b2"'));
      const before = await stored(store, a);
      const operations: TransactionOperation[] = [
        { operation: 'upsert', ...upsert(a, '"a2"') },
        { operation: 'upsert', ...upsert(freshKey('tx-new'), '"n"') },
        { operation: 'delete', ...remove(b, { etag: staleB }) },
      ];
      await expect(store.transaction(operations)).rejects.toBeInstanceOf(EtagMismatchError);
      const after = await stored(store, a);
      expect(after.value.toString()).toBe('"a1"');
      expect(after.etag).toBe(before.etag);
      expect((await stored(store, b)).value.toString()).toBe('"b2"');
      expect(await store.get(operations[1]?.key ?? '')).toBeUndefined();
    });

    it('lets exactly one of concurrent writers with the same etag win', async () => {
      const key = freshKey('race');
      await store.set(upsert(key, '0'));
      const { etag } = await stored(store, key);
      const writers = Array.from({ length: 8 }, (_, index) => store.set(upsert(key, String(index + 1), { etag, concurrency: 'first-write' })));
      const results = await Promise.allSettled(writers);
      const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index + 1] : []));
      expect(winners).toHaveLength(1);
      for (const result of results) if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(EtagMismatchError);
      expect((await stored(store, key)).value.toString()).toBe(String(winners[0]));
    });

    it('lets exactly one of concurrent first-write creators win', async () => {
      const key = freshKey('create-race');
      const creators = Array.from({ length: 8 }, (_, index) => store.set(upsert(key, String(index), { concurrency: 'first-write' })));
      const results = await Promise.allSettled(creators);
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    });

    it('lets exactly one of concurrent conditional transactions win', async () => {
      const a = freshKey('tx-race-a');
      const b = freshKey('tx-race-b');
      await store.set(upsert(a, '0'));
      const { etag } = await stored(store, a);
      const transactions = Array.from({ length: 6 }, (_, index) =>
        store.transaction([
          { operation: 'upsert', ...upsert(a, String(index + 1), { etag }) },
          { operation: 'upsert', ...upsert(b, String(index + 1)) },
        ]),
      );
      const results = await Promise.allSettled(transactions);
      const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index + 1] : []));
      expect(winners).toHaveLength(1);
      expect((await stored(store, a)).value.toString()).toBe(String(winners[0]));
      expect((await stored(store, b)).value.toString()).toBe(String(winners[0]));
    });
  });
}

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('dapr_state_stores');
});

afterAll(async () => {
  await database?.drop();
  const redis = new Redis(6379, '127.0.0.1');
  const keys = await redis.keys(`contract-${run}||*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

stateStoreContract('state.in-memory', () => createInMemoryStateStore(input('memory', {})), { foreignEtag: undefined });
stateStoreContract('state.postgresql', () => createPostgresStateStore(input('pg', { connectionString: database.url })), {
  foreignEtag: 'not-a-uuid',
});
stateStoreContract('state.redis', () => createRedisStateStore(input('redis', { redisHost: REDIS_HOST })), { foreignEtag: 'v1' });

describe('state.postgresql', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
  });

  it('creates its table, with the configured name, when it is missing', async () => {
    const store = await createPostgresStateStore(input('pg', { connectionString: database.url, tableName: 'orders_state', metadataTableName: 'orders_meta' }));
    try {
      const tables = await client.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_name IN ('orders_state', 'orders_meta') ORDER BY 1`);
      expect(tables.rows.map((row) => row.table_name)).toEqual(['orders_meta', 'orders_state']);
      await store.set(upsert('k', '"v"'));
      const rows = await client.query<{ key: string }>('SELECT key FROM orders_state');
      expect(rows.rows).toEqual([{ key: 'k' }]);
    } finally {
      await store.close();
    }
  });

  it('removes expired rows from the table periodically', async () => {
    const store = await createPostgresStateStore(input('pg', { connectionString: database.url, tableName: 'gc_state', cleanupInterval: '1s' }));
    try {
      await store.set(upsert('expiring', '1', { ttlSeconds: 1 }));
      await store.set(upsert('lasting', '1'));
      const count = () => client.query<{ key: string }>('SELECT key FROM gc_state ORDER BY key').then((result) => result.rows.map((row) => row.key));
      expect(await count()).toEqual(['expiring', 'lasting']);
      await eventually(count, (keys) => keys.length === 1, 8_000);
      expect(await count()).toEqual(['lasting']);
    } finally {
      await store.close();
    }
  });

  it('refuses a table with another layout rather than failing on each call', async () => {
    await client.query('CREATE TABLE daprd_state (key text PRIMARY KEY, value jsonb NOT NULL, isbinary boolean NOT NULL)');
    await expect(createPostgresStateStore(input('pg', { connectionString: database.url, tableName: 'daprd_state' }))).rejects.toThrow(/another layout/);
  });

  it('rejects a table name that is not an SQL identifier', async () => {
    await expect(createPostgresStateStore(input('pg', { connectionString: database.url, tableName: 'state; drop table x' }))).rejects.toThrow(/tableName/);
  });

  it('connects with a keyword/value connection string, as daprd accepts', async () => {
    const url = new URL(database.url);
    const connectionString = `host=${url.hostname} port=${url.port || '5432'} user=${decodeURIComponent(url.username)} dbname=${url.pathname.slice(1)} connect_timeout=10`;
    expect(poolConfig(connectionString)).toMatchObject({ host: url.hostname, database: url.pathname.slice(1), connectionTimeoutMillis: 10_000 });
    const store = await createPostgresStateStore(input('pg', { connectionString, tableName: 'kv_state' }));
    try {
      await store.set(upsert('k', '1'));
      expect((await stored(store, 'k')).value.toString()).toBe('1');
    } finally {
      await store.close();
    }
  });

  it('reads Go durations and whole seconds for its intervals', () => {
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('30')).toBe(30_000);
    expect(parseDurationMs('0')).toBe(0);
    expect(parseDurationMs('soon')).toBeUndefined();
  });
});

describe('state.redis', () => {
  it('keeps a state as a hash of data and version, with the TTL on the key', async () => {
    const store = await createRedisStateStore(input('redis', { redisHost: REDIS_HOST }));
    const redis = new Redis(6379, '127.0.0.1');
    const key = `contract-${run}||layout`;
    try {
      await store.set(upsert(key, '{"a":1}', { ttlSeconds: 60 }));
      expect(await redis.hgetall(key)).toEqual({ data: '{"a":1}', version: '1' });
      expect(await redis.ttl(key)).toBeGreaterThan(50);
      expect((await stored(store, key)).etag).toBe('1');
      await store.set(upsert(key, '{"a":2}', { etag: '1' }));
      expect(await redis.hget(key, 'version')).toBe('2');
      expect(await redis.ttl(key)).toBe(-1);
    } finally {
      await store.close();
      await redis.quit();
    }
  });

  it('fails to start when Redis cannot be reached', async () => {
    await expect(createRedisStateStore(input('redis', { redisHost: '127.0.0.1:1' }))).rejects.toThrow();
  });
});
