import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { Payment } from '../modules/payment/payment.entity.ts';
import { devPayments } from './dev-payments.ts';

/** Inserts the dev payments; existing rows are left as they are. */
export class DatabaseSeeder extends Seeder {
  async run(em: EntityManager): Promise<void> {
    await em.upsertMany(
      Payment,
      devPayments.map(({ createdAt, ...payment }) => ({ ...payment, currency: 'EUR', version: 1, createdAt: new Date(createdAt), updatedAt: new Date(createdAt) })),
      { onConflictFields: ['id'], onConflictAction: 'ignore' },
    );
  }
}
