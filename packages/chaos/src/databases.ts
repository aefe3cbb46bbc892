import pg from 'pg';

export const SERVICES = ['users', 'inventory', 'orders', 'payments'] as const;
export type Service = (typeof SERVICES)[number] | 'dapr';

/** SQL on one service's database of a scenario's system (a connection per call: the server may be restarting). */
export interface Databases {
  query<T>(service: Service, sql: string, values?: unknown[]): Promise<T[]>;
  names(): string[];
}

export function databasesOf(server: URL, prefix: string): Databases {
  const name = (service: Service) => `${prefix}_agora_${service}`;
  return {
    async query<T>(service: Service, sql: string, values: unknown[] = []) {
      const url = new URL(server.href);
      url.pathname = `/${name(service)}`;
      const client = new pg.Client({ connectionString: url.href, connectionTimeoutMillis: 5_000, query_timeout: 30_000 });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query(sql, values)).rows as T[];
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    names: () => [...SERVICES, 'dapr' as const].map(name),
  };
}
