import { EntityRepository, raw } from '@mikro-orm/postgresql';
import type { ProductEntity } from './product.entity.ts';

export interface ProductPage {
  nodes: ProductEntity[];
  totalCount: number;
  hasNextPage: boolean;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export class ProductRepository extends EntityRepository<ProductEntity> {
  /** Catalog page in SKU order, after the SKU `afterSku`, optionally matching name or SKU. */
  async findPage(options: { first: number; afterSku: string | undefined; search: string | undefined }): Promise<ProductPage> {
    const pattern = options.search ? `%${escapeLike(options.search)}%` : undefined;
    const matching = pattern ? { $or: [{ name: { $ilike: pattern } }, { sku: { $ilike: pattern } }] } : {};
    const [rows, totalCount] = await Promise.all([
      this.find(
        { ...matching, ...(options.afterSku ? { sku: { $gt: options.afterSku } } : {}) },
        { orderBy: { sku: 'asc' }, limit: options.first + 1 },
      ),
      this.count(matching),
    ]);
    return { nodes: rows.slice(0, options.first), totalCount, hasNextPage: rows.length > options.first };
  }

  /** Adds stock in one atomic statement, so concurrent restocks never lose an update. */
  async restock(id: string, quantity: number): Promise<ProductEntity | null> {
    const result = await this.createQueryBuilder()
      .update({ stockOnHand: raw('stock_on_hand + ?', [quantity]), version: raw('version + 1'), updatedAt: new Date() })
      .where({ id })
      .execute('run');
    if (result.affectedRows === 0) return null;
    return this.findOne({ id }, { refresh: true });
  }
}
