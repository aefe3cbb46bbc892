import { randomUUID } from 'node:crypto';
import type { ComponentInput } from '../components/registry.ts';
import {
  EtagMismatchError,
  type DeleteOperation,
  type SetOperation,
  type StateStore,
  type StoredState,
  type TransactionOperation,
} from './state-store.ts';

// state.in-memory: a map in the sidecar's process, as daprd's in-memory store: uuid etags, TTL,
// transactions validated in full before any write (all or nothing), expired items swept every second.

interface Item {
  value: Buffer;
  etag: string;
  expiresAt: number | undefined;
}

const SWEEP_INTERVAL_MS = 1_000;

/** Whether `operation` may apply to `current` (the live item, if any); throws when it may not. */
function checkPrecondition(operation: TransactionOperation, current: Item | undefined): void {
  if (operation.etag) {
    if (!current) throw new EtagMismatchError(`state does not exist or has expired for key ${operation.key}`);
    if (current.etag !== operation.etag) throw new EtagMismatchError(`etag does not match for key ${operation.key}`);
    return;
  }
  // Without an etag, first-write means create-only (daprd's in-memory store); deletes stay unconditional.
  if (operation.operation === 'upsert' && operation.concurrency === 'first-write' && current) {
    throw new EtagMismatchError(`item already exists and no etag was passed for key ${operation.key}`);
  }
}

function newItem(operation: SetOperation, now: number): Item {
  const ttl = operation.ttlSeconds;
  return {
    value: Buffer.from(operation.value),
    etag: randomUUID(),
    expiresAt: ttl !== undefined && ttl > 0 ? now + ttl * 1_000 : undefined,
  };
}

export class InMemoryStateStore implements StateStore {
  readonly name: string;
  readonly actorStateStore: boolean;
  readonly #items = new Map<string, Item>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(name: string, actorStateStore: boolean) {
    this.name = name;
    this.actorStateStore = actorStateStore;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  async get(key: string): Promise<StoredState | undefined> {
    const item = this.#live(key, Date.now());
    return item ? { value: Buffer.from(item.value), etag: item.etag, expiresAt: item.expiresAt } : undefined;
  }

  async bulkGet(keys: readonly string[]): Promise<Map<string, StoredState>> {
    const found = new Map<string, StoredState>();
    for (const key of keys) {
      const state = await this.get(key);
      if (state) found.set(key, state);
    }
    return found;
  }

  async set(operation: SetOperation): Promise<void> {
    await this.transaction([{ operation: 'upsert', ...operation }]);
  }

  async delete(operation: DeleteOperation): Promise<void> {
    await this.transaction([{ operation: 'delete', ...operation }]);
  }

  async transaction(operations: readonly TransactionOperation[]): Promise<void> {
    const now = Date.now();
    // Later operations see the effect of earlier ones of the same transaction.
    const staged = new Map<string, Item | undefined>();
    for (const operation of operations) {
      const current = staged.has(operation.key) ? staged.get(operation.key) : this.#live(operation.key, now);
      checkPrecondition(operation, current);
      staged.set(operation.key, operation.operation === 'upsert' ? newItem(operation, now) : undefined);
    }
    for (const [key, item] of staged) {
      if (item) this.#items.set(key, item);
      else this.#items.delete(key);
    }
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#items.clear();
  }

  #live(key: string, now: number): Item | undefined {
    const item = this.#items.get(key);
    if (item?.expiresAt !== undefined && item.expiresAt <= now) {
      this.#items.delete(key);
      return undefined;
    }
    return item;
  }

  #sweep(): void {
    const now = Date.now();
    for (const key of this.#items.keys()) this.#live(key, now);
  }
}

export async function createInMemoryStateStore({ name, metadata }: ComponentInput): Promise<StateStore> {
  return new InMemoryStateStore(name, metadata['actorStateStore']?.toLowerCase() === 'true');
}
