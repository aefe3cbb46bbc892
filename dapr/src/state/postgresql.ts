import pg from 'pg';
import type { Logger } from '@agora/service';
import type { ComponentInput } from '../components/registry.ts';
import {
  EtagInvalidError,
  EtagMismatchError,
  opened,
  type DeleteOperation,
  type SetOperation,
  type StateStore,
  type StoredState,
  type TransactionOperation,
} from './state-store.ts';

// state.postgresql (v1 metadata). Unlike daprd's jsonb column, values are bytea so that any bytes
// (and JSON text with its exact spelling) round-trip; etags are uuids replaced on every write, so a
// deleted and re-created row never matches an old etag.

const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_CLEANUP_MS = 3_600_000;
const TRANSACTION_ATTEMPTS = 3;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const GO_DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const GO_DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
// Serialization failures and deadlocks roll the whole transaction back, so it can run again.
const RETRYABLE_CODES = new Set(['40001', '40P01']);

export interface PostgresStateOptions {
  connectionString: string;
  tableName: string;
  metadataTableName: string;
  /** Undefined disables the periodic removal of expired rows. */
  cleanupIntervalMs: number | undefined;
  timeoutMs: number;
  actorStateStore: boolean;
}

/** A Go duration ("1h", "90s", "500ms") or a whole number of seconds, in ms; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^-?\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  const negative = trimmed.startsWith('-');
  const body = negative ? trimmed.slice(1) : trimmed;
  let total = 0;
  let consumed = '';
  for (const [part, amount, unit] of body.matchAll(GO_DURATION_PART)) {
    total += Number(amount) * (GO_DURATION_UNIT_MS[unit ?? ''] ?? Number.NaN);
    consumed += part;
  }
  if (consumed === '' || consumed !== body || Number.isNaN(total)) return undefined;
  return negative ? -total : total;
}

/** `table` or `schema.table` as a quoted SQL name, folded to lower case as PostgreSQL does for daprd's unquoted names. */
function quoteTableName(name: string, metadataKey: string): { sql: string; schema: string | undefined; table: string } {
  const parts = name.toLowerCase().split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new Error(`state.postgresql: ${metadataKey} "${name}" must be "table" or "schema.table" (letters, digits, _)`);
  }
  const [first = '', second] = parts;
  return second === undefined
    ? { sql: `"${first}"`, schema: undefined, table: first }
    : { sql: `"${first}"."${second}"`, schema: first, table: second };
}

/**
 * pg leaves the 'error' event of a checked-out client to its holder: a connection that dies in
 * a transaction (PostgreSQL crashing) would crash the process unheard. The query in flight fails
 * anyway, so every client gets a listener for its whole life and the error is only reported.
 */
export function guardCheckedOutClients(pool: pg.Pool, report: (error: Error) => void): void {
  pool.on('connect', (client) => client.on('error', report));
}

/**
 * Ends a pool and waits until each of its connections has closed. pg-pool's end() resolves once it
 * has told them to end, before their sockets close: a server stopped right after (the launcher
 * stops PostgreSQL last) could still find their sessions and cut them.
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  const open = pool.totalCount;
  let closed = 0;
  const allClosed = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => {
      closed += 1;
      if (closed >= open) resolve();
    });
  });
  await pool.end();
  await allClosed;
}

/** Reads daprd's keyword/value connection strings ("host=... user=...") as well as postgres:// URLs. */
export function poolConfig(connectionString: string): pg.PoolConfig {
  if (/^postgres(ql)?:\/\//i.test(connectionString)) return { connectionString };
  const config: pg.PoolConfig = {};
  for (const [, keyword = '', raw = ''] of connectionString.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/g)) {
    const value = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    applyKeyword(config, keyword.toLowerCase(), value);
  }
  return config;
}

function applyKeyword(config: pg.PoolConfig, keyword: string, value: string): void {
  switch (keyword) {
    case 'host':
    case 'hostaddr':
      config.host = value;
      break;
    case 'port':
      config.port = Number(value);
      break;
    case 'user':
      config.user = value;
      break;
    case 'password':
      config.password = value;
      break;
    case 'dbname':
    case 'database':
      config.database = value;
      break;
    case 'connect_timeout':
      config.connectionTimeoutMillis = Number(value) * 1_000;
      break;
    case 'application_name':
      config.application_name = value;
      break;
    case 'pool_max_conns':
      config.max = Number(value);
      break;
    case 'sslmode':
      if (value === 'require') config.ssl = { rejectUnauthorized: false };
      if (value === 'verify-ca' || value === 'verify-full') config.ssl = true;
      break;
    default:
      break;
  }
}

export function parsePostgresMetadata(metadata: Record<string, string>): PostgresStateOptions {
  const connectionString = metadata['connectionString'];
  if (!connectionString) throw new Error('state.postgresql needs the connectionString metadata');
  const timeoutText = metadata['timeoutInSeconds'] ?? metadata['timeout'];
  const timeoutMs = timeoutText ? parseDurationMs(timeoutText) : DEFAULT_TIMEOUT_MS;
  if (timeoutMs === undefined || timeoutMs < 1_000) throw new Error(`state.postgresql: invalid timeout "${timeoutText ?? ''}": must be at least 1s`);
  const cleanupText = metadata['cleanupInterval'] ?? metadata['cleanupIntervalInSeconds'];
  const cleanupMs = cleanupText ? parseDurationMs(cleanupText) : DEFAULT_CLEANUP_MS;
  if (cleanupMs === undefined) throw new Error(`state.postgresql: invalid cleanupInterval "${cleanupText ?? ''}"`);
  return {
    connectionString,
    tableName: metadata['tableName'] || 'state',
    metadataTableName: metadata['metadataTableName'] || 'dapr_metadata',
    cleanupIntervalMs: cleanupMs > 0 ? cleanupMs : undefined,
    timeoutMs,
    actorStateStore: metadata['actorStateStore']?.toLowerCase() === 'true',
  };
}

function checkEtag(etag: string): void {
  if (!UUID.test(etag)) throw new EtagInvalidError(`${etag} is not an etag of this store`);
}

const isRetryable = (error: unknown) => error instanceof pg.DatabaseError && error.code !== undefined && RETRYABLE_CODES.has(error.code);

interface StateRow {
  key: string;
  value: Buffer;
  etag: string;
  expiredate: Date | null;
}

const toStoredState = (row: StateRow): StoredState => ({ value: row.value, etag: row.etag, expiresAt: row.expiredate?.getTime() });

export class PostgresStateStore implements StateStore {
  readonly name: string;
  readonly actorStateStore: boolean;
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #table: string;
  readonly #metadataTable: string;
  readonly #options: PostgresStateOptions;
  #cleanupTimer: NodeJS.Timeout | undefined;
  #cleanupRun: Promise<void> | undefined;

  constructor(name: string, options: PostgresStateOptions, logger: Logger) {
    this.name = name;
    this.actorStateStore = options.actorStateStore;
    this.#options = options;
    this.#logger = logger;
    this.#table = quoteTableName(options.tableName, 'tableName').sql;
    this.#metadataTable = quoteTableName(options.metadataTableName, 'metadataTableName').sql;
    this.#pool = new pg.Pool({
      ...poolConfig(options.connectionString),
      statement_timeout: options.timeoutMs,
      connectionTimeoutMillis: options.timeoutMs,
    });
    // An idle connection that breaks is replaced by the pool; without a listener it would crash the sidecar.
    this.#pool.on('error', (error) => this.#logger.warn({ err: error }, 'state.postgresql: idle connection failed'));
    guardCheckedOutClients(this.#pool, (error) => this.#logger.warn({ err: error }, 'state.postgresql: a connection in use failed'));
  }

  /** Creates the tables if missing (serialized across sidecars) and starts the expired-row cleanup. */
  async init(): Promise<void> {
    await this.ping();
    await this.#inTransaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`dapr-state-${this.#options.tableName}`]);
      await client.query(this.#createTableSql());
      await this.#checkTableLayout(client);
      await client.query(`CREATE INDEX IF NOT EXISTS "${quoteTableName(this.#options.tableName, 'tableName').table}_expiredate_idx" ON ${this.#table} (expiredate) WHERE expiredate IS NOT NULL`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.#metadataTable} (key text NOT NULL PRIMARY KEY, value text NOT NULL)`);
    });
    const interval = this.#options.cleanupIntervalMs;
    if (interval !== undefined) {
      this.#cleanupTimer = setInterval(() => {
        this.#cleanupRun ??= this.cleanupExpired()
          .catch((error: unknown) => this.#logger.warn({ err: error }, 'state.postgresql: cleanup of expired rows failed'))
          .finally(() => (this.#cleanupRun = undefined));
      }, interval);
      this.#cleanupTimer.unref();
    }
  }

  async get(key: string): Promise<StoredState | undefined> {
    const result = await this.#pool.query<StateRow>(
      `SELECT key, value, etag::text AS etag, expiredate FROM ${this.#table} WHERE key = $1 AND (expiredate IS NULL OR expiredate > now())`,
      [key],
    );
    const row = result.rows[0];
    return row ? toStoredState(row) : undefined;
  }

  async bulkGet(keys: readonly string[]): Promise<Map<string, StoredState>> {
    if (keys.length === 0) return new Map();
    const result = await this.#pool.query<StateRow>(
      `SELECT key, value, etag::text AS etag, expiredate FROM ${this.#table} WHERE key = ANY($1::text[]) AND (expiredate IS NULL OR expiredate > now())`,
      [[...keys]],
    );
    return new Map(result.rows.map((row) => [row.key, toStoredState(row)]));
  }

  async set(operation: SetOperation): Promise<void> {
    await this.#set(this.#pool, operation);
  }

  async delete(operation: DeleteOperation): Promise<void> {
    await this.#delete(this.#pool, operation);
  }

  async transaction(operations: readonly TransactionOperation[]): Promise<void> {
    for (const operation of operations) if (operation.etag) checkEtag(operation.etag);
    await this.#inTransaction(async (client) => {
      for (const operation of operations) {
        if (operation.operation === 'upsert') await this.#set(client, operation);
        else await this.#delete(client, operation);
      }
    });
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  /** Deletes expired rows, at most once per cleanup interval across every sidecar sharing the table. */
  async cleanupExpired(): Promise<void> {
    const due = await this.#pool.query(
      `INSERT INTO ${this.#metadataTable} AS m (key, value) VALUES ($1, now()::text)
       ON CONFLICT (key) DO UPDATE SET value = now()::text
       WHERE (extract(epoch FROM now() - m.value::timestamptz) * 1000)::bigint >= $2`,
      [`last-cleanup-${this.#options.tableName}`, Math.floor((this.#options.cleanupIntervalMs ?? 0) * 0.9)],
    );
    if (due.rowCount !== 1) return;
    const deleted = await this.#pool.query(`DELETE FROM ${this.#table} WHERE expiredate IS NOT NULL AND expiredate <= now()`);
    this.#logger.debug({ rows: deleted.rowCount }, 'state.postgresql: removed expired rows');
  }

  async close(): Promise<void> {
    clearInterval(this.#cleanupTimer);
    await this.#cleanupRun;
    await endPool(this.#pool);
  }

  #createTableSql(): string {
    return `CREATE TABLE IF NOT EXISTS ${this.#table} (
      key text NOT NULL PRIMARY KEY,
      value bytea NOT NULL,
      etag uuid NOT NULL,
      insertdate timestamptz NOT NULL DEFAULT now(),
      updatedate timestamptz NULL,
      expiredate timestamptz NULL
    )`;
  }

  /** A table made by daprd itself (jsonb value, xmin etags) has another layout: say so rather than fail on each call. */
  async #checkTableLayout(client: pg.PoolClient): Promise<void> {
    const { schema, table } = quoteTableName(this.#options.tableName, 'tableName');
    const result = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2`,
      [schema ?? null, table],
    );
    const types = new Map(result.rows.map((row) => [row.column_name, row.data_type]));
    if (types.get('value') !== 'bytea' || types.get('etag') !== 'uuid' || !types.has('expiredate')) {
      throw new Error(`state.postgresql: table ${this.#options.tableName} exists with another layout (value bytea, etag uuid, expiredate expected); set tableName to a new table`);
    }
  }

  async #set(db: pg.Pool | pg.PoolClient, operation: SetOperation): Promise<void> {
    const ttl = operation.ttlSeconds !== undefined && operation.ttlSeconds > 0 ? operation.ttlSeconds : 0;
    const expiry = `CASE WHEN $3::int > 0 THEN now() + $3::int * interval '1 second' END`;
    if (operation.etag) {
      checkEtag(operation.etag);
      const updated = await db.query(
        `UPDATE ${this.#table} SET value = $2, etag = gen_random_uuid(), updatedate = now(), expiredate = ${expiry}
         WHERE key = $1 AND etag = $4::uuid AND (expiredate IS NULL OR expiredate > now())`,
        [operation.key, operation.value, ttl, operation.etag],
      );
      if (updated.rowCount !== 1) throw new EtagMismatchError(`etag does not match, or no state, for key ${operation.key}`);
      return;
    }
    // first-write without an etag only creates: an existing row is replaced only once it has expired.
    const onlyIfExpired = operation.concurrency === 'first-write' ? 'WHERE t.expiredate IS NOT NULL AND t.expiredate <= now()' : '';
    const upserted = await db.query(
      `INSERT INTO ${this.#table} AS t (key, value, etag, expiredate) VALUES ($1, $2, gen_random_uuid(), ${expiry})
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, updatedate = now(), expiredate = excluded.expiredate
       ${onlyIfExpired}`,
      [operation.key, operation.value, ttl],
    );
    if (upserted.rowCount !== 1) throw new EtagMismatchError(`item already exists and no etag was passed for key ${operation.key}`);
  }

  async #delete(db: pg.Pool | pg.PoolClient, operation: DeleteOperation): Promise<void> {
    if (!operation.etag) {
      await db.query(`DELETE FROM ${this.#table} WHERE key = $1`, [operation.key]);
      return;
    }
    checkEtag(operation.etag);
    const deleted = await db.query(
      `DELETE FROM ${this.#table} WHERE key = $1 AND etag = $2::uuid AND (expiredate IS NULL OR expiredate > now())`,
      [operation.key, operation.etag],
    );
    if (deleted.rowCount !== 1) throw new EtagMismatchError(`etag does not match, or no state, for key ${operation.key}`);
  }

  async #inTransaction(run: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        await run(client);
        await client.query('COMMIT');
        return;
      } catch (error) {
        broken = await client.query('ROLLBACK').then(
          () => false,
          () => true,
        );
        if (attempt >= TRANSACTION_ATTEMPTS || !isRetryable(error)) throw error;
      } finally {
        client.release(broken);
      }
    }
  }
}

export async function createPostgresStateStore({ name, metadata, logger }: ComponentInput): Promise<StateStore> {
  return opened(new PostgresStateStore(name, parsePostgresMetadata(metadata), logger), (store) => store.init());
}
