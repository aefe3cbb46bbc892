import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError, ErrorCode } from '@agora/service';
import { Product } from '../product/product.entity.ts';
import { Reservation, ReservationStatus, type ReservationEntity } from './reservation.entity.ts';
import { inTransaction, quantitiesByProduct } from '../transaction.ts';

export interface CommittedReservations {
  /** The order's committed reservations: all of them, after a successful call. */
  committed: number;
}

const isHeld = (reservation: ReservationEntity, now: Date) => reservation.status === ReservationStatus.RESERVED && reservation.expiresAt > now;

/**
 * Takes an order's reserved units off the shelf, all or nothing. Idempotent: a replay answers the
 * same count. A reservation that expired, was released or was refused cannot be committed: the
 * order gets a CONFLICT and nothing changes, so the saga compensates.
 */
export async function commitReservations(em: EntityManager, input: { orderId: string }, now: Date): Promise<CommittedReservations> {
  return inTransaction(em, async (tx) => {
    const reservations = await tx.getRepository(Reservation).lockForOrder(input.orderId);
    if (reservations.length === 0) {
      throw new DomainError(ErrorCode.NOT_FOUND, `Order ${input.orderId} has no reservations`, { orderId: input.orderId });
    }
    const blocked = reservations.filter((r) => r.status !== ReservationStatus.COMMITTED && !isHeld(r, now));
    if (blocked.length > 0) {
      const states = blocked.map((r) => ({ productId: r.product.id, status: r.status === ReservationStatus.RESERVED ? 'EXPIRED' : r.status }));
      throw new DomainError(
        ErrorCode.CONFLICT,
        `Order ${input.orderId} cannot be committed: ${states.map((s) => `${s.productId} is ${s.status}`).join(', ')}`,
        { orderId: input.orderId, reservations: states },
      );
    }
    const held = reservations.filter((r) => r.status === ReservationStatus.RESERVED);
    await tx.getRepository(Product).takeReserved(quantitiesByProduct(held.map((r) => ({ productId: r.product.id, quantity: r.quantity }))));
    for (const reservation of held) {
      reservation.status = ReservationStatus.COMMITTED;
      reservation.committedAt = now;
    }
    return { committed: reservations.length };
  });
}
