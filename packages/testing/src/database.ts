import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server tests create their databases on: the machine's PostgreSQL unless TEST_DATABASE_URL says otherwise. */
export const testServerUrl = (): URL => new URL(process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function onServer<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testServerUrl().href });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A fresh, uniquely named database for one test file; `drop` removes it even if connections remain. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await onServer((client) => client.query(`create database "${name}"`));
  const url = new URL(testServerUrl().href);
  url.pathname = `/${name}`;
  return { name, url: url.href, drop: () => dropDatabases([name]) };
}

export async function dropDatabases(names: readonly string[]): Promise<void> {
  await onServer(async (client) => {
    for (const name of names) await client.query(`drop database if exists "${name}" with (force)`);
  });
}
