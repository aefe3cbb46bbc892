import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlockException, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

const MAX_ATTEMPTS = 5;

// Deadlocks and serialization failures (40P01, 40001) leave nothing behind and succeed on a retry;
// a unique violation on (order_id, product_id) means a concurrent first call won, and the retry
// reads its outcome.
const retryable = (error: unknown): boolean => error instanceof DeadlockException || error instanceof UniqueConstraintViolationException;

/** Runs `work` in a transaction on a fresh fork of `em`, again (up to five times) when it conflicts with a concurrent one. */
export async function inTransaction<T>(em: EntityManager, work: (tx: EntityManager) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await em.fork().transactional(work);
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !retryable(error)) throw error;
      await sleep(Math.random() * 10 * attempt);
    }
  }
}

/** Sums quantities per product id. */
export function quantitiesByProduct(items: readonly { productId: string; quantity: number }[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const { productId, quantity } of items) sums.set(productId, (sums.get(productId) ?? 0) + quantity);
  return sums;
}
