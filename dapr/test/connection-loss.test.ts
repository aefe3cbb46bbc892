import { createLogger } from '@agora/service';
import { createTestDatabase, type TestDatabase } from '@agora/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStateStore } from '../src/state/postgresql.ts';
import type { StateStore } from '../src/state/state-store.ts';
import { WorkflowStore } from '../src/workflow/store.ts';

// Regression (chaos suite, "postgres crash"): a connection that PostgreSQL drops while a
// transaction holds it emits 'error' on its pg client; unheard, that killed the whole sidecar.
// Now the transaction fails, the error is reported, and the store keeps serving.

let database: TestDatabase;
let killer: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase('dapr_connection_loss');
  killer = new pg.Client({ connectionString: database.url });
  await killer.connect();
});

afterAll(async () => {
  await killer?.end();
  await database?.drop();
});

/** Ends the server process behind `client`, as a crash of PostgreSQL would. */
async function terminate(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
  await killer.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
}

describe('a PostgreSQL connection lost in the middle of a transaction', () => {
  it('fails the workflow store transaction, reports the error, and the store keeps working', async () => {
    const errors: Error[] = [];
    const store = new WorkflowStore(database.url, 'connection-loss', (error) => errors.push(error));
    await store.init();
    try {
      await expect(
        store.transaction(async (_tx, client) => {
          await terminate(client);
          await expect.poll(() => errors.length).toBeGreaterThan(0);
          await client.query('select 1');
        }),
      ).rejects.toThrow();
      expect(errors[0]?.message).toMatch(/terminat/);
      expect(await store.transaction(async (_tx, client) => (await client.query<{ one: number }>('select 1 as one')).rows[0]?.one)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('keeps the state store serving after PostgreSQL ends all its connections', async () => {
    const lines: string[] = [];
    const logger = createLogger('connection-loss-test', 'warn', { write: (line: string) => void lines.push(line) });
    const store: StateStore = await createPostgresStateStore({ name: 'statestore', metadata: { connectionString: database.url }, appId: 'test-app', baseDir: '.', logger, env: {} });
    const { rows } = await killer.query<{ pid: number }>("select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()");
    try {
      // Every pooled connection of the store is ended; the next use of each must not crash the process.
      for (const row of rows) await killer.query('select pg_terminate_backend($1)', [row.pid]);
      await expect.poll(() => lines.some((line) => line.includes('connection'))).toBe(true);
      await store.set({ key: 'after-loss', value: Buffer.from('ok'), etag: undefined, concurrency: 'last-write', ttlSeconds: undefined });
      expect((await store.get('after-loss'))?.value.toString()).toBe('ok');
    } finally {
      await store.close();
    }
  });
});

describe('closing a store', () => {
  const sessions = async () => Number((await killer.query<{ n: string }>('select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')).rows[0]?.n);

  // The launcher stops PostgreSQL right after the sidecars: a session still open then is cut
  // ("terminating connection due to administrator command" in npm start's log).
  it('resolves only once every connection of its pool has closed', async () => {
    for (let round = 0; round < 5; round += 1) {
      const logger = createLogger('connection-loss-test', 'silent');
      const store: StateStore = await createPostgresStateStore({ name: 'statestore', metadata: { connectionString: database.url }, appId: 'test-app', baseDir: '.', logger, env: {} });
      const workflows = new WorkflowStore(database.url, 'close-test', () => undefined);
      await workflows.init();
      // Several connections open in each pool.
      await Promise.all(Array.from({ length: 4 }, (_, index) => store.set({ key: `close-${index}`, value: Buffer.from('x'), etag: undefined, concurrency: 'last-write', ttlSeconds: undefined })));
      await Promise.all(Array.from({ length: 4 }, () => workflows.transaction(async (_tx, client) => client.query('select pg_sleep(0.01)'))));
      expect(await sessions()).toBeGreaterThan(1);
      await Promise.all([store.close(), workflows.close()]);
      expect(await sessions()).toBe(0);
    }
  });
});
