import type { EntityManager } from '@mikro-orm/postgresql';
import { enqueueEvent } from '@agora/events';
import { DomainError, ErrorCode, notFound } from '@agora/service';
import { availableStock, Product } from '../product/product.entity.ts';
import { Reservation, ReservationStatus, type ReservationEntity } from './reservation.entity.ts';
import { inTransaction } from '../transaction.ts';

export interface ReserveStockInput {
  orderId: string;
  productId: string;
  quantity: number;
  ttlSeconds: number;
}

export interface ReservedStock {
  reservationId: string;
  productId: string;
  quantity: number;
  status: 'RESERVED';
  /** UTC ISO timestamp after which the reservation is released unless committed. */
  expiresAt: string;
}

export interface ReserveStockOptions {
  /** Fewer available units than this after a reserve (and at least this many before) emits agora.stock.low.v1. */
  lowStockThreshold: number;
  now: Date;
}

// A product whose stock was released between the failed conditional update and the read that
// explains it is tried again, so a refusal never reports enough units available.
const MAX_RESERVE_TRIES = 3;

/**
 * Holds `quantity` units of a product for an order until `ttlSeconds` from now. Idempotent per
 * (order, product): the first outcome, a reservation or an OUT_OF_STOCK refusal, is stored with
 * the stock change and its events in one transaction, and a replay returns it unchanged.
 */
export async function reserveStock(em: EntityManager, input: ReserveStockInput, options: ReserveStockOptions): Promise<ReservedStock> {
  const reservation = await inTransaction(em, async (tx) => {
    const existing = await tx.getRepository(Reservation).findByKey(input.orderId, input.productId);
    if (existing) return existing;
    const expiresAt = new Date(options.now.getTime() + input.ttlSeconds * 1000);
    const products = tx.getRepository(Product);
    for (let attempt = 1; ; attempt += 1) {
      const level = await products.reserve(input.productId, input.quantity);
      if (level) {
        enqueueEvent(tx, { type: 'agora.stock.reserved.v1', service: 'inventory', subject: input.productId, data: { orderId: input.orderId, productId: input.productId, quantity: input.quantity } });
        const before = level.available + input.quantity;
        if (level.available < options.lowStockThreshold && before >= options.lowStockThreshold) {
          enqueueEvent(tx, {
            type: 'agora.stock.low.v1',
            service: 'inventory',
            subject: input.productId,
            data: { productId: input.productId, sku: level.sku, available: level.available, threshold: options.lowStockThreshold },
          });
        }
        return tx.create(Reservation, { orderId: input.orderId, product: input.productId, quantity: input.quantity, status: ReservationStatus.RESERVED, expiresAt });
      }
      const product = await products.findOne({ id: input.productId }, { refresh: true });
      if (!product) throw notFound('Product', input.productId);
      const available = availableStock(product);
      if (available < input.quantity || attempt >= MAX_RESERVE_TRIES) {
        return tx.create(Reservation, {
          orderId: input.orderId,
          product: input.productId,
          quantity: input.quantity,
          status: ReservationStatus.REJECTED,
          expiresAt,
          availableWhenRejected: Math.min(available, input.quantity - 1),
        });
      }
    }
  });
  return outcomeOf(reservation, input);
}

/** What a reserve call answers for a stored reservation: the reservation, or the refusal it recorded. */
function outcomeOf(reservation: ReservationEntity, input: ReserveStockInput): ReservedStock {
  const productId = input.productId;
  if (reservation.quantity !== input.quantity) {
    throw new DomainError(
      ErrorCode.IDEMPOTENCY_KEY_REUSED,
      `Order ${input.orderId} already reserved ${reservation.quantity} of product ${productId}, not ${input.quantity}`,
      { orderId: input.orderId, productId, quantity: reservation.quantity },
    );
  }
  if (reservation.status === ReservationStatus.REJECTED) {
    const available = reservation.availableWhenRejected ?? 0;
    throw new DomainError(ErrorCode.OUT_OF_STOCK, `Only ${available} of product ${productId} available, ${input.quantity} requested`, {
      productId,
      requested: input.quantity,
      available,
    });
  }
  return { reservationId: reservation.id, productId, quantity: reservation.quantity, status: 'RESERVED', expiresAt: reservation.expiresAt.toISOString() };
}
