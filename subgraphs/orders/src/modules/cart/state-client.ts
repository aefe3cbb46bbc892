import { CommunicationProtocolEnum, DaprClient, LogLevel, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';
import { DomainError, ErrorCode } from '@agora/service';

// The Dapr state API as the orders service uses it: values with their ETags, guarded writes and
// create-only records with a TTL. The SDK resolves failed saves with { error } (it does not
// throw), so every write is checked here. A store that cannot be read or written (PostgreSQL
// restarting, the sidecar gone) is SERVICE_UNAVAILABLE for the client, with the reason as cause.

export interface Versioned<T> {
  value: T | undefined;
  /** Undefined when the key does not exist. */
  etag: string | undefined;
}

export class StateClient {
  readonly #client: DaprClient;
  readonly #store: string;

  constructor(daprHttpPort: number, store: string) {
    this.#store = store;
    this.#client = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(daprHttpPort),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      logger: { level: LogLevel.Error },
    });
  }

  /** Waits until the sidecar answers (the SDK polls its metadata endpoint). */
  start(): Promise<void> {
    return this.#client.start();
  }

  stop(): Promise<void> {
    return this.#client.stop();
  }

  async get<T>(key: string): Promise<Versioned<T>> {
    const items = await this.#client.state.getBulk(this.#store, [key]).catch((error: unknown) => {
      throw this.#unavailable(`could not read ${key}`, error);
    });
    const [item] = items as { key: string; data?: T; etag?: string }[];
    return { value: item?.data, etag: item?.etag || undefined };
  }

  /** Writes only if the stored ETag is still `etag` (or, without one, only if the key is absent). False on a conflict. */
  async saveIfUnchanged<T>(key: string, value: T, etag: string | undefined, ttlSeconds?: number): Promise<boolean> {
    const result = await this.#client.state.save(this.#store, [
      {
        key,
        value,
        ...(etag ? { etag } : {}),
        options: { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_STRONG },
        ...(ttlSeconds ? { metadata: { ttlInSeconds: String(ttlSeconds) } } : {}),
      },
    ]);
    if (!result.error) return true;
    if (isConflict(result.error)) return false;
    throw this.#unavailable(`could not save ${key}`, result.error);
  }

  /** Deletes only if the stored ETag is still `etag`; false on a conflict. */
  async deleteIfUnchanged(key: string, etag: string): Promise<boolean> {
    const result = await this.#client.state.delete(this.#store, key, { etag, concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE });
    if (!result.error) return true;
    if (isConflict(result.error)) return false;
    throw this.#unavailable(`could not delete ${key}`, result.error);
  }

  #unavailable(what: string, error: unknown): DomainError {
    return new DomainError(ErrorCode.SERVICE_UNAVAILABLE, 'the orders state store is not answering; try again shortly', { service: this.#store }, new Error(`state store ${this.#store}: ${what}: ${describe(error)}`));
  }
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : JSON.stringify(error));

/** daprd answers an ETag mismatch with 409 (ERR_STATE_SAVE / ERR_STATE_DELETE) and a first-write create of an existing key the same way. */
function isConflict(error: unknown): boolean {
  const text = describe(error);
  return /\b409\b|etag|ERR_STATE_(SAVE|DELETE).*(mismatch|conflict|exists)/i.test(text);
}
