import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { Product } from '../modules/product/product.entity.ts';
import { catalog, CURRENCY } from './catalog.ts';

/** Inserts the dev catalog; products that already exist keep their current stock. */
export class DatabaseSeeder extends Seeder {
  async run(em: EntityManager): Promise<void> {
    await em.upsertMany(
      Product,
      catalog.map(({ stock, ...product }) => ({ ...product, currency: CURRENCY, stockOnHand: stock, stockReserved: 0, version: 1 })),
      { onConflictFields: ['id'], onConflictAction: 'ignore' },
    );
  }
}
