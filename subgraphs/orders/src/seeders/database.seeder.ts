import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { OrderLine } from '../modules/order/order-line.entity.ts';
import { Order } from '../modules/order/order.entity.ts';
import { devOrders } from './dev-orders.ts';

/** Inserts the dev order history; existing rows are left as they are. */
export class DatabaseSeeder extends Seeder {
  async run(em: EntityManager): Promise<void> {
    await em.transactional(async (tx) => {
      await tx.upsertMany(
        Order,
        devOrders.map(({ lines, createdAt, ...order }) => ({
          ...order,
          currency: 'EUR',
          totalAmount: lines.reduce((sum, line) => sum + line.quantity * line.unitPriceAmount, 0),
          version: 1,
          createdAt: new Date(createdAt),
          updatedAt: new Date(createdAt),
        })),
        { onConflictFields: ['id'], onConflictAction: 'ignore' },
      );
      await tx.upsertMany(
        OrderLine,
        devOrders.flatMap((order) => order.lines.map((line) => ({ ...line, order: order.id }))),
        { onConflictFields: ['id'], onConflictAction: 'ignore' },
      );
    });
  }
}
