import type { EntityManager } from '@mikro-orm/postgresql';
import { Order, type OrderEntity } from '../order/order.entity.ts';
import { orderStatusesFor, type SagaStatus } from './saga-view.ts';
import { SagaStep, type SagaStepEntity } from './saga-step.entity.ts';

/** The steps of these orders' sagas, each saga's in the order they started. */
export function sagaStepsOf(em: EntityManager, orderIds: readonly string[]): Promise<SagaStepEntity[]> {
  return em.find(SagaStep, { orderId: { $in: [...orderIds] } }, { orderBy: { startedAt: 'asc', name: 'asc' } });
}

/** A page of orders (with their sagas) newest first; the cursor is the last order's id. */
export async function sagaPage(em: EntityManager, status: SagaStatus | undefined, first: number, after: string | undefined): Promise<{ orders: OrderEntity[]; hasNextPage: boolean }> {
  const where: Record<string, unknown> = status ? { status: { $in: orderStatusesFor(status) } } : {};
  if (after) {
    const cursor = await em.findOne(Order, { id: after });
    if (cursor) Object.assign(where, { $or: [{ createdAt: { $lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { $gt: cursor.id } }] });
  }
  const orders = await em.find(Order, where, { orderBy: { createdAt: 'desc', id: 'asc' }, limit: first + 1, populate: ['lines'] });
  return { orders: orders.slice(0, first), hasNextPage: orders.length > first };
}
