import DataLoader from 'dataloader';

export type Loader<K, V> = DataLoader<K, V>;
import type { EntityManager, EntityName } from '@mikro-orm/postgresql';
import { isUuid } from './ids.ts';

/**
 * Batches lookups by id within one request into a single `IN` query: the gateway resolves
 * entity references in bulk, and this keeps that one query per type, not one per row.
 */
export function byIdLoader<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  options: { isValidId?: (id: string) => boolean; populate?: readonly string[] } = {},
): DataLoader<string, T | null> {
  const isValidId = options.isValidId ?? isUuid;
  return new DataLoader<string, T | null>(async (ids) => {
    const valid = ids.filter(isValidId);
    const rows = valid.length > 0 ? ((await em.find(entity, { id: { $in: valid } } as never, { populate: options.populate } as never)) as T[]) : [];
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  });
}

/** Same as byIdLoader, grouping rows by a foreign key (e.g. payments by order id). */
export function byKeyLoader<T>(load: (keys: readonly string[]) => Promise<T[]>, keyOf: (row: T) => string): DataLoader<string, T[]> {
  return new DataLoader<string, T[]>(async (keys) => {
    const rows = await load(keys.filter(isUuid));
    const groups = new Map<string, T[]>();
    for (const row of rows) {
      const group = groups.get(keyOf(row));
      if (group) group.push(row);
      else groups.set(keyOf(row), [row]);
    }
    return keys.map((key) => groups.get(key) ?? []);
  });
}

/** One lookup per key and request, for a source with no batch read: each key its own call, in parallel. */
export function perKeyLoader<V>(load: (key: string) => Promise<V>): DataLoader<string, V> {
  return new DataLoader<string, V>((keys) => Promise.all(keys.map(load)));
}
