import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '@agora/service';
import { Reservation } from './reservation.entity.ts';
import { releaseHeld } from './release-reservations.ts';
import { inTransaction } from '../transaction.ts';

export const EXPIRED_REASON = 'expired';
const BATCH_SIZE = 100;

/**
 * Releases every held reservation whose expiry is at or before `now`, in batches of one
 * transaction each. Rows another transaction holds are skipped (SKIP LOCKED), so several
 * instances can sweep at once without releasing anything twice. Returns how many it released.
 */
export async function releaseExpiredReservations(em: EntityManager, now: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const released = await inTransaction(em, async (tx) => {
      const expired = await tx.getRepository(Reservation).lockExpired(now, BATCH_SIZE);
      await releaseHeld(tx, expired, EXPIRED_REASON, now);
      return expired.length;
    });
    total += released;
    if (released < BATCH_SIZE) return total;
  }
}

export interface ReservationExpiryOptions {
  em: EntityManager;
  intervalMs: number;
  logger: Logger;
  clock?: () => Date;
}

/** Sweeps expired reservations every `intervalMs` until stopped; `stop` waits for a sweep in progress. */
export function startReservationExpiry(options: ReservationExpiryOptions): { stop(): Promise<void> } {
  const clock = options.clock ?? (() => new Date());
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;

  const sweep = async () => {
    try {
      const released = await releaseExpiredReservations(options.em, clock());
      if (released > 0) options.logger.info({ released }, 'released expired reservations');
    } catch (error) {
      options.logger.error({ err: error }, 'releasing expired reservations failed; will retry');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      sweeping = sweep().finally(() => {
        sweeping = undefined;
        schedule();
      });
    }, options.intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await sweeping;
    },
  };
}
