import type { ProductResolvers } from '../__generated__/resolvers-types.ts';
import { availableStock } from '../modules/product/product.entity.ts';

export const Product: ProductResolvers = {
  __resolveReference: (reference, ctx) => ctx.productById.load(reference.id),
  price: (product) => ({ amount: product.priceAmount, currency: product.currency }),
  stock: (product) => availableStock(product),
  inStock: (product) => availableStock(product) > 0,
};
