import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  readonly payload: AdapterPayload;
  readonly expiresAt: number | undefined;
}

const SWEEP_EVERY_WRITES = 200;

/** In-memory oidc-provider storage owned by one server, so it survives provider rebuilds on key rotation. */
export class MemoryStore {
  readonly #entries = new Map<string, Entry>();
  readonly #grantMembers = new Map<string, Set<string>>();
  readonly #sessionIdsByUid = new Map<string, string>();
  #writes = 0;

  adapterFactory(): AdapterFactory {
    return (model) => this.#adapter(model);
  }

  #adapter(model: string): Adapter {
    return {
      upsert: async (id, payload, expiresIn) => this.#upsert(model, id, payload, expiresIn),
      find: async (id) => this.#find(model, id),
      findByUid: async (uid) => this.#findByUid(model, uid),
      // Device flow is disabled, so no user codes are ever stored.
      findByUserCode: async () => undefined,
      consume: async (id) => this.#consume(model, id),
      destroy: async (id) => {
        this.#entries.delete(key(model, id));
      },
      revokeByGrantId: async (grantId) => this.#revokeGrant(grantId),
    };
  }

  #upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined): void {
    const entryKey = key(model, id);
    const expiresAt = expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000;
    this.#entries.set(entryKey, { payload, expiresAt });
    if (payload.grantId !== undefined) {
      const members = this.#grantMembers.get(payload.grantId) ?? new Set<string>();
      this.#grantMembers.set(payload.grantId, members.add(entryKey));
    }
    if (model === 'Session' && payload.uid !== undefined) this.#sessionIdsByUid.set(payload.uid, id);
    this.#writes += 1;
    if (this.#writes % SWEEP_EVERY_WRITES === 0) this.#sweep();
  }

  #find(model: string, id: string): AdapterPayload | undefined {
    const entryKey = key(model, id);
    const entry = this.#entries.get(entryKey);
    if (entry === undefined) return undefined;
    if (isExpired(entry)) {
      this.#entries.delete(entryKey);
      return undefined;
    }
    return entry.payload;
  }

  #findByUid(model: string, uid: string): AdapterPayload | undefined {
    const id = this.#sessionIdsByUid.get(uid);
    return id === undefined ? undefined : this.#find(model, id);
  }

  #consume(model: string, id: string): void {
    const payload = this.#find(model, id);
    if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
  }

  #revokeGrant(grantId: string): void {
    for (const entryKey of this.#grantMembers.get(grantId) ?? []) this.#entries.delete(entryKey);
    this.#grantMembers.delete(grantId);
  }

  #sweep(): void {
    for (const [entryKey, entry] of this.#entries) {
      if (isExpired(entry)) this.#entries.delete(entryKey);
    }
    for (const [grantId, members] of this.#grantMembers) {
      for (const member of members) {
        if (!this.#entries.has(member)) members.delete(member);
      }
      if (members.size === 0) this.#grantMembers.delete(grantId);
    }
    for (const [uid, id] of this.#sessionIdsByUid) {
      if (!this.#entries.has(key('Session', id))) this.#sessionIdsByUid.delete(uid);
    }
  }
}

function key(model: string, id: string): string {
  return `${model}:${id}`;
}

function isExpired(entry: Entry): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt <= Date.now();
}
