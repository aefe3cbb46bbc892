import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError, ErrorCode } from '@agora/service';
import { availableStock, Product } from './product.entity.ts';

export interface ProductQuote {
  productId: string;
  sku: string;
  name: string;
  /** Integer minor units of `currency`. */
  unitPrice: { amount: number; currency: string };
  /** Units that can be reserved now: on hand minus reserved. */
  available: number;
}

/** Current prices and availability of the given products, in the order asked; NOT_FOUND names every unknown id. */
export async function quoteProducts(em: EntityManager, productIds: readonly string[]): Promise<ProductQuote[]> {
  const products = new Map((await em.find(Product, { id: { $in: [...productIds] } })).map((product) => [product.id, product]));
  const quotes: ProductQuote[] = [];
  const unknown: string[] = [];
  for (const id of productIds) {
    const product = products.get(id);
    if (!product) unknown.push(id);
    else quotes.push({ productId: product.id, sku: product.sku, name: product.name, unitPrice: { amount: product.priceAmount, currency: product.currency }, available: availableStock(product) });
  }
  if (unknown.length > 0) throw new DomainError(ErrorCode.NOT_FOUND, `Unknown products: ${unknown.join(', ')}`, { productIds: unknown });
  return quotes;
}
