import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import { restockProduct } from '../modules/product/restock-product.ts';

export const Mutation: MutationResolvers = {
  restockProduct: (_parent, args, ctx) => restockProduct(ctx, args),
};
