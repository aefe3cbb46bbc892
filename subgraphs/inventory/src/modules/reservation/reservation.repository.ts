import { LockMode } from '@mikro-orm/core';
import { EntityRepository } from '@mikro-orm/postgresql';
import type { ReservationEntity } from './reservation.entity.ts';

export class ReservationRepository extends EntityRepository<ReservationEntity> {
  findByKey(orderId: string, productId: string): Promise<ReservationEntity | null> {
    return this.findOne({ orderId, product: productId });
  }

  /** Every reservation of the order, locked until the transaction ends, in product order (the order product rows are locked in). */
  lockForOrder(orderId: string): Promise<ReservationEntity[]> {
    return this.find({ orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { product: 'asc' } });
  }

  /** Held reservations past their expiry, skipping rows another transaction holds (another instance's sweep, a commit). */
  lockExpired(now: Date, limit: number): Promise<ReservationEntity[]> {
    return this.find(
      { status: 'RESERVED', expiresAt: { $lte: now } },
      { lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE, orderBy: { expiresAt: 'asc' }, limit },
    );
  }
}
