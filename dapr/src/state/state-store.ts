// The contract every state store component implements. The HTTP state API (state/state-api.ts)
// applies key prefixes, parses requests and maps errors; stores only store.

export type Concurrency = 'first-write' | 'last-write';

export interface StoredState {
  /** The value exactly as the app saved it (JSON text or raw bytes). */
  value: Buffer;
  etag: string;
  /** Unix epoch ms when it expires, when saved with ttlInSeconds. */
  expiresAt: number | undefined;
}

export interface SetOperation {
  key: string;
  value: Buffer;
  /** When given, the write succeeds only if the stored etag still matches. */
  etag: string | undefined;
  concurrency: Concurrency;
  ttlSeconds: number | undefined;
}

export interface DeleteOperation {
  key: string;
  etag: string | undefined;
  concurrency: Concurrency;
}

export type TransactionOperation = ({ operation: 'upsert' } & SetOperation) | ({ operation: 'delete' } & DeleteOperation);

/** The etag given does not match the stored one (HTTP 409, ERR_STATE_SAVE / ERR_STATE_DELETE). */
export class EtagMismatchError extends Error {
  override name = 'EtagMismatchError';
}

/** The etag given is not one this store could have produced (HTTP 400). */
export class EtagInvalidError extends Error {
  override name = 'EtagInvalidError';
}

export interface StateStore {
  readonly name: string;
  /** Marked `actorStateStore: "true"`: the workflow engine keeps its state here. */
  readonly actorStateStore: boolean;
  get(key: string): Promise<StoredState | undefined>;
  bulkGet(keys: readonly string[]): Promise<Map<string, StoredState>>;
  set(operation: SetOperation): Promise<void>;
  delete(operation: DeleteOperation): Promise<void>;
  /** All operations or none. */
  transaction(operations: readonly TransactionOperation[]): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Answers `store` once `open` (connect, create tables) succeeded; else closes what it opened and rethrows. */
export async function opened<S extends StateStore>(store: S, open: (store: S) => Promise<void>): Promise<S> {
  try {
    await open(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
