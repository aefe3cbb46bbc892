import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Product } from './product.entity.ts';

/** One restockProduct applied: who added how many units, and the idempotency key it came with. */
export const Restock = defineEntity({
  name: 'Restock',
  tableName: 'restocks',
  // Per admin: keys without one (null) never collide.
  uniques: [{ name: 'restocks_actor_idempotency_key_unique', properties: ['actor', 'idempotencyKey'] }],
  checks: [{ name: 'restocks_quantity_check', expression: 'quantity > 0' }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    product: () => p.manyToOne(Product).index(),
    quantity: p.integer(),
    /** The admin's subject. */
    actor: p.string().length(200),
    idempotencyKey: p.string().length(100).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type RestockEntity = InferEntity<typeof Restock>;
