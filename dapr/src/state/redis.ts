import { Redis, type RedisOptions } from 'ioredis';
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

// state.redis, laid out as daprd's store: each key is a hash with `data` and `version` fields, the
// version (HINCRBY) being the etag. Every write runs as one Lua script that checks all etags first
// and only then writes, so a transaction applies all of its operations or none.

const FIELDS_PER_OPERATION = 5;

// KEYS: one per key. Returns data, version and PTTL for each (false for a missing key).
const READ_SCRIPT = `
local out = {}
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'hash' then
    local fields = redis.call('HMGET', KEYS[i], 'data', 'version')
    out[#out + 1] = fields[1]
    out[#out + 1] = fields[2]
  else
    out[#out + 1] = false
    out[#out + 1] = false
  end
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out`;

// KEYS: one per operation. ARGV: per operation kind (u/d), etag ('' for none), first-write (1/0),
// ttl seconds (0 persists), data. Returns 0, or the 1-based index of the first operation whose etag
// (or create-only condition) fails, having written nothing.
const WRITE_SCRIPT = `
local versions = {}
local function current(key)
  if versions[key] == nil then
    if redis.call('TYPE', key).ok == 'hash' then
      versions[key] = redis.call('HGET', key, 'version') or false
    else
      versions[key] = false
    end
  end
  return versions[key]
end
for i = 1, #KEYS do
  local base = (i - 1) * ${FIELDS_PER_OPERATION}
  local kind, etag, firstWrite = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local version = current(KEYS[i])
  if etag ~= '' then
    if version == false or version ~= etag then return i end
  elseif kind == 'u' and firstWrite == '1' and version ~= false then
    return i
  end
  if kind == 'u' then
    versions[KEYS[i]] = tostring((tonumber(version or '0') or 0) + 1)
  else
    versions[KEYS[i]] = false
  end
end
for i = 1, #KEYS do
  local base = (i - 1) * ${FIELDS_PER_OPERATION}
  local key = KEYS[i]
  if ARGV[base + 1] == 'u' then
    if redis.call('TYPE', key).ok ~= 'hash' then redis.call('DEL', key) end
    redis.call('HSET', key, 'data', ARGV[base + 5])
    redis.call('HINCRBY', key, 'version', 1)
    local ttl = tonumber(ARGV[base + 4])
    if ttl > 0 then redis.call('EXPIRE', key, ttl) else redis.call('PERSIST', key) end
  else
    redis.call('DEL', key)
  end
end
return 0`;

type ScriptArgument = string | Buffer | number;
interface StateScripts {
  stateReadBuffer(numberOfKeys: number, ...args: ScriptArgument[]): Promise<(Buffer | number | null)[]>;
  stateWrite(numberOfKeys: number, ...args: ScriptArgument[]): Promise<number>;
}

export interface RedisStateOptions {
  connection: RedisOptions;
  /** Component-wide `ttlInSeconds`, for saves that give none. */
  defaultTtlSeconds: number | undefined;
  actorStateStore: boolean;
}

/** `host:port`, `[v6]:port` or `host` (port 6379). */
function parseHost(redisHost: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(redisHost.trim());
  const host = match?.[1];
  if (!host) throw new Error(`state.redis: invalid redisHost "${redisHost}"`);
  return { host, port: match[2] ? Number(match[2]) : 6379 };
}

export function parseRedisMetadata(metadata: Record<string, string>): RedisStateOptions {
  const redisHost = metadata['redisHost'];
  if (!redisHost) throw new Error('state.redis needs the redisHost metadata');
  const db = Number(metadata['redisDB'] || '0');
  if (!Number.isInteger(db) || db < 0) throw new Error(`state.redis: invalid redisDB "${metadata['redisDB'] ?? ''}"`);
  const ttlText = metadata['ttlInSeconds'];
  const defaultTtl = ttlText ? Number(ttlText) : undefined;
  if (defaultTtl !== undefined && !Number.isInteger(defaultTtl)) throw new Error(`state.redis: invalid ttlInSeconds "${ttlText ?? ''}"`);
  return {
    connection: {
      ...parseHost(redisHost),
      db,
      username: metadata['redisUsername'] || undefined,
      password: metadata['redisPassword'] || undefined,
      tls: metadata['enableTLS']?.toLowerCase() === 'true' ? {} : undefined,
    },
    defaultTtlSeconds: defaultTtl,
    actorStateStore: metadata['actorStateStore']?.toLowerCase() === 'true',
  };
}

function checkEtag(etag: string): void {
  if (!/^\d+$/.test(etag)) throw new EtagInvalidError(`${etag} is not a version of this store`);
}

export class RedisStateStore implements StateStore {
  readonly name: string;
  readonly actorStateStore: boolean;
  readonly #redis: Redis;
  readonly #scripts: StateScripts;
  readonly #defaultTtlSeconds: number | undefined;

  constructor(name: string, options: RedisStateOptions, logger: Logger) {
    this.name = name;
    this.actorStateStore = options.actorStateStore;
    this.#defaultTtlSeconds = options.defaultTtlSeconds;
    this.#redis = new Redis({ ...options.connection, lazyConnect: true, maxRetriesPerRequest: 3 });
    // ioredis reconnects by itself; the listener keeps a connection error from being "unhandled".
    this.#redis.on('error', (error: unknown) => logger.warn({ err: error }, 'state.redis: connection error'));
    this.#redis.defineCommand('stateRead', { lua: READ_SCRIPT, readOnly: true });
    this.#redis.defineCommand('stateWrite', { lua: WRITE_SCRIPT });
    this.#scripts = this.#redis as unknown as StateScripts;
  }

  async connect(): Promise<void> {
    await this.#redis.connect();
  }

  async get(key: string): Promise<StoredState | undefined> {
    return (await this.bulkGet([key])).get(key);
  }

  async bulkGet(keys: readonly string[]): Promise<Map<string, StoredState>> {
    const found = new Map<string, StoredState>();
    if (keys.length === 0) return found;
    const reply = await this.#scripts.stateReadBuffer(keys.length, ...keys);
    keys.forEach((key, index) => {
      const [data, version, pttl] = reply.slice(index * 3, index * 3 + 3);
      if (!Buffer.isBuffer(data) || !Buffer.isBuffer(version)) return;
      const expiresAt = typeof pttl === 'number' && pttl > 0 ? Date.now() + pttl : undefined;
      found.set(key, { value: data, etag: version.toString('utf8'), expiresAt });
    });
    return found;
  }

  async set(operation: SetOperation): Promise<void> {
    await this.transaction([{ operation: 'upsert', ...operation }]);
  }

  async delete(operation: DeleteOperation): Promise<void> {
    await this.transaction([{ operation: 'delete', ...operation }]);
  }

  async transaction(operations: readonly TransactionOperation[]): Promise<void> {
    if (operations.length === 0) return;
    const args: ScriptArgument[] = operations.map((operation) => operation.key);
    for (const operation of operations) {
      if (operation.etag) checkEtag(operation.etag);
      args.push(...this.#argumentsOf(operation));
    }
    const failed = await this.#scripts.stateWrite(operations.length, ...args);
    const operation = operations[failed - 1];
    if (!operation) return;
    throw new EtagMismatchError(
      operation.etag ? `etag does not match, or no state, for key ${operation.key}` : `item already exists and no etag was passed for key ${operation.key}`,
    );
  }

  async ping(): Promise<void> {
    await this.#redis.ping();
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #argumentsOf(operation: TransactionOperation): ScriptArgument[] {
    const firstWrite = operation.concurrency === 'first-write' ? '1' : '0';
    if (operation.operation === 'delete') return ['d', operation.etag ?? '', firstWrite, '0', ''];
    const ttl = operation.ttlSeconds ?? this.#defaultTtlSeconds ?? 0;
    return ['u', operation.etag ?? '', firstWrite, String(Math.max(ttl, 0)), operation.value];
  }
}

export async function createRedisStateStore({ name, metadata, logger }: ComponentInput): Promise<StateStore> {
  return opened(new RedisStateStore(name, parseRedisMetadata(metadata), logger), (store) => store.connect());
}
