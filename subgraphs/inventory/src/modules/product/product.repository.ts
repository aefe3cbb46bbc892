import { EntityRepository, raw } from '@mikro-orm/postgresql';
import type { ProductEntity } from './product.entity.ts';

export interface StockLevel {
  sku: string;
  /** On hand minus reserved, after the change. */
  available: number;
}

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

  /**
   * Moves `quantity` units from available to reserved if that many are available: one conditional
   * statement, so concurrent reserves serialize on the row and can never oversell. Null when
   * there are not enough units (or no such product).
   */
  async reserve(id: string, quantity: number): Promise<StockLevel | null> {
    const rows = await this.getEntityManager().execute<StockLevel[]>(
      `update "products" set "stock_reserved" = "stock_reserved" + ?, "version" = "version" + 1, "updated_at" = ?
       where "id" = ? and "stock_on_hand" - "stock_reserved" >= ?
       returning "sku", "stock_on_hand" - "stock_reserved" as "available"`,
      [quantity, new Date(), id, quantity],
    );
    return rows[0] ?? null;
  }

  /** Gives reserved units back to available (a released reservation), per product id. */
  releaseReserved(quantities: ReadonlyMap<string, number>): Promise<void> {
    return this.shiftReserved(quantities, false);
  }

  /** Takes reserved units off the shelf (a committed reservation): on hand and reserved both go down. */
  takeReserved(quantities: ReadonlyMap<string, number>): Promise<void> {
    return this.shiftReserved(quantities, true);
  }

  // Rows are updated in id order, so transactions touching several products never deadlock each other.
  private async shiftReserved(quantities: ReadonlyMap<string, number>, fromOnHand: boolean): Promise<void> {
    const ordered = [...quantities].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [id, quantity] of ordered) {
      await this.getEntityManager().execute(
        `update "products" set "stock_reserved" = "stock_reserved" - ?, "stock_on_hand" = "stock_on_hand" - ?, "version" = "version" + 1, "updated_at" = ? where "id" = ?`,
        [quantity, fromOnHand ? quantity : 0, new Date(), id],
        'run',
      );
    }
  }
}
