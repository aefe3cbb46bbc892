import { audit, badInput, notFound, parseId, requireAdmin } from '@agora/service';
import type { Context } from '../../context.ts';
import type { ProductEntity } from './product.entity.ts';

export const MAX_RESTOCK = 1_000_000;

export async function restockProduct(ctx: Context, input: { id: string; quantity: number }): Promise<ProductEntity> {
  const admin = requireAdmin(ctx.caller, { log: ctx.log, action: 'inventory.restockProduct', resource: `product:${input.id}` });
  const id = parseId(input.id);
  if (!Number.isInteger(input.quantity) || input.quantity < 1 || input.quantity > MAX_RESTOCK) {
    throw badInput(`quantity must be an integer from 1 to ${MAX_RESTOCK}`, { quantity: input.quantity });
  }
  const product = await ctx.products.restock(id, input.quantity);
  if (!product) throw notFound('Product', id);
  audit(ctx.log, { action: 'inventory.restockProduct', outcome: 'succeeded', actor: admin, resource: `product:${id}`, quantity: input.quantity, stockOnHand: product.stockOnHand });
  return product;
}
