import type { EntityManager } from '@mikro-orm/postgresql';
import { enqueueEvent } from '@agora/events';
import { Product } from '../product/product.entity.ts';
import { Reservation, ReservationStatus, type ReservationEntity } from './reservation.entity.ts';
import { inTransaction, quantitiesByProduct } from '../transaction.ts';

export interface ReleasedReservations {
  /** The order's reservations that are released (by this call or an earlier one, or by expiry). */
  released: number;
}

/**
 * Gives back the stock of every held reservation of an order (the saga's compensation).
 * Idempotent: committed reservations stay committed, released ones stay released, and a replay
 * answers the same count.
 */
export async function releaseReservations(em: EntityManager, input: { orderId: string; reason: string }, now: Date): Promise<ReleasedReservations> {
  return inTransaction(em, async (tx) => {
    const reservations = await tx.getRepository(Reservation).lockForOrder(input.orderId);
    await releaseHeld(tx, reservations.filter((r) => r.status === ReservationStatus.RESERVED), input.reason, now);
    return { released: reservations.filter((r) => r.status === ReservationStatus.RELEASED).length };
  });
}

/** Releases reservations the caller has locked and knows to be held: stock, status and one agora.stock.released.v1 each, in the caller's transaction. */
export async function releaseHeld(tx: EntityManager, reservations: readonly ReservationEntity[], reason: string, now: Date): Promise<void> {
  if (reservations.length === 0) return;
  await tx.getRepository(Product).releaseReserved(quantitiesByProduct(reservations.map((r) => ({ productId: r.product.id, quantity: r.quantity }))));
  for (const reservation of reservations) {
    reservation.status = ReservationStatus.RELEASED;
    reservation.releaseReason = reason;
    reservation.releasedAt = now;
    enqueueEvent(tx, {
      type: 'agora.stock.released.v1',
      service: 'inventory',
      subject: reservation.product.id,
      data: { orderId: reservation.orderId, productId: reservation.product.id, quantity: reservation.quantity, reason },
    });
  }
}
