import { loadTypeDefs, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import { resolvers } from './resolvers/index.ts';

export const paymentsSubgraph: SubgraphModule<Context> = {
  name: 'payments',
  typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
  resolvers,
  database,
  context: buildContext,
};
