import { loadTypeDefs, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import { resolvers } from './resolvers/index.ts';

export const ordersSubgraph: SubgraphModule<Context> = {
  name: 'orders',
  typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
  resolvers,
  database,
  context: buildContext,
};
