import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ormOptions } from '../src/database.ts';
import { createLogger } from '../src/logger.ts';

// A transaction whose connection dies (PostgreSQL restarted, the session terminated) must give its
// connection back to the pool. With kysely 0.29.6 under MikroORM, the failed ROLLBACK kept it checked
// out for good, and a pool of DATABASE_POOL_MAX connections stopped serving after that many such
// deaths (the chaos suite's `postgres restart` left orders hanging). One connection makes one leak fatal.

const serverUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const noTables = { entities: [], migrations: [], migrationsPath: '.' };

/** What the service log receives at `warn`. */
interface LogLine {
  level: number;
  orm?: string;
  msg: string;
}
const warnings: LogLine[] = [];
const logger = createLogger('database-test', 'warn', { write: (line: string) => void warnings.push(JSON.parse(line) as LogLine) });

let orm: MikroORM;
let admin: MikroORM;

beforeAll(async () => {
  orm = await MikroORM.init({ ...ormOptions(noTables, serverUrl, logger, 1), discovery: { warnWhenNoEntities: false } });
  // Its own context name: otherwise its queries would join `orm`'s transaction in progress.
  admin = await MikroORM.init({ ...ormOptions(noTables, serverUrl, undefined, 1), discovery: { warnWhenNoEntities: false }, contextName: 'admin' });
});

afterAll(async () => {
  await orm.close(true);
  await admin.close(true);
});

/** A query on the one pooled connection, or an error naming the starved pool after 5 s. */
async function poolServes(): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const starved = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the pool handed out no connection within 5 s')), 5_000);
  });
  try {
    return await Promise.race([orm.em.fork().execute('select 1 as one'), starved]);
  } finally {
    clearTimeout(timer);
  }
}

describe('database pool after a dropped connection', () => {
  it('serves again after a transaction whose connection died in a query', async () => {
    await expect(orm.em.fork().transactional((em) => em.execute('select pg_terminate_backend(pg_backend_pid())'))).rejects.toThrow(/terminat/i);
    await expect(poolServes()).resolves.toEqual([{ one: 1 }]);
    // A service at `warn` hears of it (MikroORM's own logger would say nothing outside debug mode).
    const failedRollback = warnings.find((line) => line.msg.startsWith('Failed to roll back transaction'));
    expect(failedRollback).toMatchObject({ level: 40, orm: 'query' });
  });

  it('serves again after a transaction whose connection died before its commit', async () => {
    await expect(
      orm.em.fork().transactional(async (em) => {
        const [session] = await em.execute<{ pid: number }[]>('select pg_backend_pid() as pid');
        await admin.em.fork().execute('select pg_terminate_backend(?)', [session?.pid]);
      }),
    ).rejects.toThrow();
    await expect(poolServes()).resolves.toEqual([{ one: 1 }]);
  });
});
