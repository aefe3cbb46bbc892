import { loadTypeDefs, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import { resolvers } from './resolvers/index.ts';

export const usersSubgraph: SubgraphModule<Context> = {
  name: 'users',
  typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
  resolvers,
  database,
  context: buildContext,
};
