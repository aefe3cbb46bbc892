import { badInput, notFound, parseId } from '@agora/service';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

const MAX_PAGE = 100;

export const Query: QueryResolvers = {
  async products(_parent, { first, after, search }, ctx) {
    // An explicit `first: null` arrives as null despite the schema default.
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw badInput(`first must be from 1 to ${MAX_PAGE}`, { first });
    const afterSku = after ? Buffer.from(after, 'base64url').toString('utf8') : undefined;
    const page = await ctx.products.findPage({ first, afterSku, search: search?.trim() || undefined });
    const last = page.nodes.at(-1);
    return {
      nodes: page.nodes,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: last ? Buffer.from(last.sku, 'utf8').toString('base64url') : null },
    };
  },
  async product(_parent, { id }, ctx) {
    const product = await ctx.productById.load(parseId(id));
    if (!product) throw notFound('Product', id);
    return product;
  },
};
