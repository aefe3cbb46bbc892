import { audit, badInput, checkIdempotencyKey, DomainError, ErrorCode, notFound, parseId, requireAdmin } from '@agora/service';
import type { Context } from '../../context.ts';
import { inTransaction } from '../transaction.ts';
import { Product, type ProductEntity } from './product.entity.ts';
import { Restock } from './restock.entity.ts';

export const MAX_RESTOCK = 1_000_000;

export interface RestockInput {
  id: string;
  quantity: number;
  idempotencyKey?: string | null | undefined;
}

/**
 * Adds stock and records the restock in one transaction. A restock sent again with its key finds
 * its record and answers the product as it is; two sent at once both try to insert the record, and
 * the unique key makes the second roll back its stock change and retry into that path.
 */
export async function restockProduct(ctx: Context, input: RestockInput): Promise<ProductEntity> {
  const admin = requireAdmin(ctx.caller, { log: ctx.log, action: 'inventory.restockProduct', resource: `product:${input.id}` });
  const id = parseId(input.id);
  if (!Number.isInteger(input.quantity) || input.quantity < 1 || input.quantity > MAX_RESTOCK) {
    throw badInput(`quantity must be an integer from 1 to ${MAX_RESTOCK}`, { quantity: input.quantity });
  }
  const idempotencyKey = input.idempotencyKey ? checkIdempotencyKey(input.idempotencyKey) : null;
  const { product, replayed } = await inTransaction(ctx.em, async (tx) => {
    const earlier = idempotencyKey ? await tx.findOne(Restock, { actor: admin.sub, idempotencyKey }) : null;
    if (earlier) {
      if (earlier.product.id !== id || earlier.quantity !== input.quantity) {
        throw new DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'this idempotency key was used for another restock; use a new key for a new restock');
      }
      return { product: await tx.findOneOrFail(Product, { id }), replayed: true };
    }
    const restocked = await tx.getRepository(Product).restock(id, input.quantity);
    if (!restocked) throw notFound('Product', id);
    tx.create(Restock, { product: restocked, quantity: input.quantity, actor: admin.sub, idempotencyKey });
    return { product: restocked, replayed: false };
  });
  audit(ctx.log, { action: 'inventory.restockProduct', outcome: 'succeeded', actor: admin, resource: `product:${id}`, quantity: input.quantity, stockOnHand: product.stockOnHand, ...(replayed ? { replayed } : {}) });
  return product;
}
