import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ProductRepository } from './product.repository.ts';

export const Product = defineEntity({
  name: 'Product',
  tableName: 'products',
  repository: () => ProductRepository,
  checks: [
    { name: 'products_stock_check', expression: 'stock_reserved >= 0 and stock_reserved <= stock_on_hand' },
    { name: 'products_price_check', expression: 'price_amount >= 0' },
  ],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    sku: p.string().length(32).unique(),
    name: p.string().length(200),
    description: p.text(),
    /** Integer minor units of `currency`. */
    priceAmount: p.integer(),
    currency: p.string().length(3),
    stockOnHand: p.integer(),
    stockReserved: p.integer().default(0),
    version: p.integer().version(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type ProductEntity = InferEntity<typeof Product>;

export const availableStock = (product: ProductEntity): number => product.stockOnHand - product.stockReserved;
