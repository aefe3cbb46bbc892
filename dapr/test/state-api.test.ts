import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient, LogLevel, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';
import { createTestDatabase, type TestDatabase } from '@agora/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';
import { componentYaml } from './app-support.ts';

const run = randomBytes(4).toString('hex');
const redisPrefix = `agora-api-${run}`;

function componentsYaml(databaseUrl: string): string {
  return [
    componentYaml('memstore', 'state.in-memory', { actorStateStore: 'false' }),
    componentYaml('pgstore', 'state.postgresql', { connectionString: databaseUrl }),
    componentYaml('pgnamed', 'state.postgresql', { connectionString: databaseUrl, tableName: 'named_state', keyPrefix: 'name' }),
    componentYaml('redisstore', 'state.redis', { redisHost: '127.0.0.1:6379', keyPrefix: redisPrefix }),
    componentYaml('redisraw', 'state.redis', { redisHost: '127.0.0.1:6379', keyPrefix: 'none' }),
  ].join('\n---\n');
}

// The SDK logs every failed save as an error; these tests expect failures.
const quietLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, verbose: () => undefined, debug: () => undefined };

let database: TestDatabase;
let resourcesDir: string;
let sidecar: RunningSidecar;
let client: DaprClient;
let db: pg.Client;
let redis: Redis;
let counter = 0;
const freshKey = (name: string) => `${name}-${run}-${++counter}`;

beforeAll(async () => {
  database = await createTestDatabase('dapr_state_api');
  resourcesDir = mkdtempSync(join(tmpdir(), 'state-api-'));
  writeFileSync(join(resourcesDir, 'components.yaml'), componentsYaml(database.url));
  sidecar = await startSidecar({ appId: 'test-app', httpPort: 0, resourcesPaths: [resourcesDir], logLevel: 'silent' });
  client = new DaprClient({
    daprHost: '127.0.0.1',
    daprPort: String(sidecar.httpPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    logger: { level: LogLevel.Error, service: quietLogger },
  });
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
  redis = new Redis(6379, '127.0.0.1');
});

afterAll(async () => {
  await client?.stop();
  await sidecar?.stop();
  await db?.end();
  if (redis) {
    const keys = [...(await redis.keys(`${redisPrefix}*`)), ...(await redis.keys(`raw-${run}-*`))];
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  await database?.drop();
  if (resourcesDir) rmSync(resourcesDir, { recursive: true, force: true });
});

const api = (path: string, init?: RequestInit) => fetch(`${sidecar.url}/v1.0/state/${path}`, init);
const post = (path: string, body: unknown) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const firstWrite = { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_STRONG };
// The SDK types a transaction etag as { value }, but sends the request as given; daprd's HTTP API takes the etag string.
const sdkEtag = (etag: string) => etag as unknown as { value: string };
const errorOf = async (response: Response) => (await response.json()) as { errorCode: string; message: string };

async function etagOf(store: string, key: string): Promise<string> {
  const response = await api(`${store}/${key}`);
  const etag = response.headers.get('etag');
  await response.body?.cancel();
  if (!etag) throw new Error(`no etag for ${key} (status ${response.status})`);
  return etag;
}

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 6_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${deadlineMs} ms`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
}

describe.each(['memstore', 'pgstore', 'redisstore'])('state API on %s', (store) => {
  it('saves a JSON object with the SDK and reads it back', async () => {
    const key = freshKey('order');
    const saved = await client.state.save(store, [{ key, value: { id: 7, items: ['a', 'b'], note: 'x<y' } }]);
    expect(saved.error).toBeUndefined();
    expect(await client.state.get(store, key)).toEqual({ id: 7, items: ['a', 'b'], note: 'x<y' });
  });

  it('answers a GET with the value as sent, its ETag header and application/json', async () => {
    const key = freshKey('greeting');
    expect((await post(store, [{ key, value: 'hello' }])).status).toBe(204);
    const response = await api(`${store}/${key}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('etag')).toBeTruthy();
    expect(await response.text()).toBe('"hello"');
  });

  it('answers a GET of a missing key with 204 and no body', async () => {
    const response = await api(`${store}/${freshKey('missing')}`);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(await client.state.get(store, freshKey('missing'))).toBe('');
  });

  it('returns etags from bulk get, and only the key for a missing one', async () => {
    const a = freshKey('bulk-a');
    const missing = freshKey('bulk-missing');
    await client.state.save(store, [{ key: a, value: { n: 1 } }]);
    const items = (await client.state.getBulk(store, [a, missing])) as { key: string; data?: unknown; etag?: string }[];
    expect(items).toEqual([
      { key: a, data: { n: 1 }, etag: await etagOf(store, a) },
      { key: missing },
    ]);
  });

  it('rejects an SDK save with a stale etag under first-write, keeping the value', async () => {
    const key = freshKey('guarded');
    await client.state.save(store, [{ key, value: 1 }]);
    const stale = await etagOf(store, key);
    await client.state.save(store, [{ key, value: 2 }]);
    const result = await client.state.save(store, [{ key, value: 3, etag: stale, options: firstWrite }]);
    expect(String(result.error)).toMatch(/409/);
    expect(await client.state.get(store, key)).toBe(2);
    const fresh = await etagOf(store, key);
    const retried = await client.state.save(store, [{ key, value: 4, etag: fresh, options: firstWrite }]);
    expect(retried.error).toBeUndefined();
    expect(await client.state.get(store, key)).toBe(4);
  });

  it('creates with first-write and no etag, and answers 409 ERR_STATE_SAVE once the key exists', async () => {
    const key = freshKey('create-only');
    expect((await client.state.save(store, [{ key, value: 'first', options: firstWrite }])).error).toBeUndefined();
    const response = await post(store, [{ key, value: 'second', options: { concurrency: 'first-write' } }]);
    expect(response.status).toBe(409);
    expect((await errorOf(response)).errorCode).toBe('ERR_STATE_SAVE');
    expect(await client.state.get(store, key)).toBe('first');
  });

  it('deletes only with the current etag in If-Match, answering 409 ERR_STATE_DELETE otherwise', async () => {
    const key = freshKey('deleted');
    await client.state.save(store, [{ key, value: true }]);
    const stale = await etagOf(store, key);
    await client.state.save(store, [{ key, value: false }]);
    const refused = await api(`${store}/${key}`, { method: 'DELETE', headers: { 'if-match': stale } });
    expect(refused.status).toBe(409);
    expect((await errorOf(refused)).errorCode).toBe('ERR_STATE_DELETE');
    expect(await client.state.get(store, key)).toBe(false);
    const deleted = await client.state.delete(store, key, { etag: await etagOf(store, key) });
    expect(deleted.error).toBeUndefined();
    expect(await client.state.get(store, key)).toBe('');
  });

  it('applies an SDK transaction of upserts and deletes', async () => {
    const kept = freshKey('tx-kept');
    const dropped = freshKey('tx-dropped');
    await client.state.save(store, [{ key: dropped, value: 'old' }]);
    await client.state.transaction(store, [
      { operation: 'upsert', request: { key: kept, value: { v: 1 } } },
      { operation: 'delete', request: { key: dropped, etag: sdkEtag(await etagOf(store, dropped)) } },
    ]);
    expect(await client.state.get(store, kept)).toEqual({ v: 1 });
    expect(await client.state.get(store, dropped)).toBe('');
  });

  it('applies nothing of a transaction with a failing operation, answering 500 ERR_STATE_TRANSACTION', async () => {
    const a = freshKey('tx-a');
    const b = freshKey('tx-b');
    await client.state.save(store, [{ key: a, value: 'a1' }, { key: b, value: 'b1' }]);
    const stale = await etagOf(store, b);
    await client.state.save(store, [{ key: b, value: 'b2' }]);
    const response = await post(`${store}/transaction`, {
      operations: [
        { operation: 'upsert', request: { key: a, value: 'a2' } },
        { operation: 'upsert', request: { key: b, value: 'b3', etag: stale } },
      ],
    });
    expect(response.status).toBe(500);
    expect((await errorOf(response)).errorCode).toBe('ERR_STATE_TRANSACTION');
    expect(await client.state.get(store, a)).toBe('a1');
    expect(await client.state.get(store, b)).toBe('b2');
    await expect(
      client.state.transaction(store, [{ operation: 'upsert', request: { key: b, value: 'b4', etag: sdkEtag(stale) } }]),
    ).rejects.toThrow(/500/);
  });

  it('saves a list all or nothing: one stale etag saves none of it', async () => {
    const a = freshKey('list-a');
    const b = freshKey('list-b');
    await client.state.save(store, [{ key: b, value: 'b1' }]);
    const stale = await etagOf(store, b);
    await client.state.save(store, [{ key: b, value: 'b2' }]);
    const response = await post(store, [
      { key: a, value: 'a1' },
      { key: b, value: 'b3', etag: stale },
    ]);
    expect(response.status).toBe(409);
    expect(await client.state.get(store, a)).toBe('');
    expect(await client.state.get(store, b)).toBe('b2');
  });

  it('expires a state saved with metadata.ttlInSeconds, showing its expiry time', async () => {
    const viaQuery = freshKey('ttl-query');
    const viaItem = freshKey('ttl-item');
    expect((await post(`${store}?metadata.ttlInSeconds=1`, [{ key: viaQuery, value: 1 }])).status).toBe(204);
    expect((await client.state.save(store, [{ key: viaItem, value: 2, metadata: { ttlInSeconds: '1' } }])).error).toBeUndefined();
    const response = await api(`${store}/${viaQuery}`);
    expect(response.status).toBe(200);
    const expiry = Date.parse(response.headers.get('metadata.ttlexpiretime') ?? '');
    expect(expiry).toBeGreaterThan(Date.now() - 1_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 2_000);
    await eventually(async () => (await api(`${store}/${viaQuery}`)).status, (status) => status === 204);
    await eventually(() => client.state.get(store, viaItem), (value) => value === '');
  });

  it('keeps a state saved with ttlInSeconds -1 without expiry', async () => {
    const key = freshKey('ttl-forever');
    expect((await post(`${store}?metadata.ttlInSeconds=-1`, [{ key, value: 1 }])).status).toBe(204);
    const response = await api(`${store}/${key}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('metadata.ttlexpiretime')).toBeNull();
  });
});

describe('state API requests and errors', () => {
  it('answers an unknown store with 400 ERR_STATE_STORE_NOT_FOUND', async () => {
    const response = await api('nostore/k');
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toEqual({ errorCode: 'ERR_STATE_STORE_NOT_FOUND', message: 'state store nostore is not found' });
    expect((await post('nostore', [{ key: 'k', value: 1 }])).status).toBe(400);
  });

  it('rejects bodies that are not what the endpoint takes with 400 ERR_MALFORMED_REQUEST', async () => {
    for (const [path, body] of [
      ['memstore', 'not json'],
      ['memstore', { key: 'k', value: 1 }],
      ['memstore', [{ value: 1 }]],
      ['memstore', [{ key: 'k', value: 1, etag: 5 }]],
      ['memstore', [{ key: 'k', value: 1, options: { concurrency: 'sometimes' } }]],
      ['memstore/bulk', { keys: 'k' }],
      ['memstore/transaction', { operations: [{ operation: 'upsert', request: { value: 1 } }] }],
      ['memstore/transaction', ''],
      ['memstore/transaction', { operations: [{ operation: 'delete', request: { key: 'k', etag: { value: '1' } } }] }],
    ] as const) {
      const response = await post(path, body);
      expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect((await errorOf(response)).errorCode).toBe('ERR_MALFORMED_REQUEST');
    }
  });

  it('rejects a key containing "||" with 400', async () => {
    const response = await api('memstore/a||b');
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toEqual({ errorCode: 'ERR_MALFORMED_REQUEST', message: "input key/keyPrefix 'a||b' can't contain '||'" });
    expect((await post('memstore', [{ key: 'a||b', value: 1 }])).status).toBe(400);
  });

  it('rejects a ttlInSeconds that is not a whole number from -1 up with 400', async () => {
    expect((await post('memstore?metadata.ttlInSeconds=soon', [{ key: freshKey('ttl'), value: 1 }])).status).toBe(400);
    expect((await post('memstore', [{ key: freshKey('ttl'), value: 1, metadata: { ttlInSeconds: '-2' } }])).status).toBe(400);
  });

  it('rejects an unknown transaction operation with 400 ERR_NOT_SUPPORTED_STATE_OPERATION', async () => {
    const response = await post('memstore/transaction', { operations: [{ operation: 'merge', request: { key: 'k' } }] });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toEqual({ errorCode: 'ERR_NOT_SUPPORTED_STATE_OPERATION', message: 'operation type merge not supported' });
  });

  it('answers an etag the store cannot have made with 400 ERR_STATE_SAVE', async () => {
    const key = freshKey('foreign');
    await client.state.save('pgstore', [{ key, value: 1 }]);
    const response = await post('pgstore', [{ key, value: 2, etag: 'not-a-uuid' }]);
    expect(response.status).toBe(400);
    expect((await errorOf(response)).errorCode).toBe('ERR_STATE_SAVE');
  });

  it('answers empty saves, transactions and bulk gets without touching the store', async () => {
    expect((await post('memstore', [])).status).toBe(204);
    expect((await post('memstore/transaction', { operations: [] })).status).toBe(204);
    const bulk = await post('memstore/bulk', { keys: [] });
    expect(bulk.status).toBe(200);
    expect(await bulk.json()).toEqual([]);
  });

  it('accepts PUT as well as POST for saves, bulk gets and transactions', async () => {
    const key = freshKey('put');
    const put = (path: string, body: unknown) => api(path, { method: 'PUT', body: JSON.stringify(body) });
    expect((await put('memstore', [{ key, value: 1 }])).status).toBe(204);
    expect((await put('memstore/transaction', { operations: [{ operation: 'upsert', request: { key, value: 2 } }] })).status).toBe(204);
    expect(await (await put('memstore/bulk', { keys: [key] })).json()).toMatchObject([{ key, data: 2 }]);
  });
});

describe('state API key prefixes', () => {
  it('stores keys as <appId>||<key> by default', async () => {
    const key = freshKey('prefixed');
    await client.state.save('pgstore', [{ key, value: 1 }]);
    const rows = await db.query<{ key: string }>('SELECT key FROM state WHERE key LIKE $1', [`%${key}`]);
    expect(rows.rows).toEqual([{ key: `test-app||${key}` }]);
  });

  it('stores keys as <storeName>||<key> with keyPrefix name', async () => {
    const key = freshKey('named');
    await client.state.save('pgnamed', [{ key, value: 1 }]);
    const rows = await db.query<{ key: string }>('SELECT key FROM named_state');
    expect(rows.rows).toEqual([{ key: `pgnamed||${key}` }]);
    expect(await client.state.get('pgnamed', key)).toBe(1);
  });

  it('stores keys under a custom keyPrefix, and unprefixed with keyPrefix none', async () => {
    const key = freshKey('custom');
    await client.state.save('redisstore', [{ key, value: 1 }]);
    expect(await redis.exists(`${redisPrefix}||${key}`)).toBe(1);
    const raw = `raw-${run}-${++counter}`;
    await client.state.save('redisraw', [{ key: raw, value: 2 }]);
    expect(await redis.hget(raw, 'data')).toBe('2');
    const items = (await client.state.getBulk('redisstore', [key])) as { key: string }[];
    expect(items.map((item) => item.key)).toEqual([key]);
  });
});

describe('state API start-up', () => {
  it('refuses a state store whose keyPrefix contains "||"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'state-api-prefix-'));
    writeFileSync(
      join(dir, 'store.yaml'),
      'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: { name: bad }\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n    - { name: keyPrefix, value: "a||b" }\n',
    );
    try {
      await expect(startSidecar({ appId: 'bad-app', httpPort: 0, resourcesPaths: [dir], logLevel: 'silent' })).rejects.toThrow(/can't contain '\|\|'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 500 ERR_STATE_STORE_NOT_CONFIGURED when no state store is loaded', async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), 'state-api-empty-'));
    const bare = await startSidecar({ appId: 'bare-app', httpPort: 0, resourcesPaths: [emptyDir], logLevel: 'silent' });
    try {
      const response = await fetch(`${bare.url}/v1.0/state/statestore/k`);
      expect(response.status).toBe(500);
      expect((await errorOf(response)).errorCode).toBe('ERR_STATE_STORE_NOT_CONFIGURED');
    } finally {
      await bare.stop();
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});
