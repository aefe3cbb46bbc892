import { startSubgraph, subgraphEnvSchema, type BaseContext, type RunningSubgraph, type SubgraphModule } from '@agora/service';
import type { GraphQLFormattedError } from 'graphql';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { startTestIssuer, type DevUser, type TestIssuer } from './identity.ts';

export interface OperationResult<TData> {
  data: TData | null | undefined;
  errors: readonly GraphQLFormattedError[] | undefined;
}

export interface TestSubgraph<TContext extends BaseContext> {
  service: RunningSubgraph<TContext>;
  database: TestDatabase;
  issuer: TestIssuer;
  /** Runs an operation through the subgraph's ApolloServer as `as` (anonymous when omitted). */
  execute<TData = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, as?: DevUser): Promise<OperationResult<TData>>;
  close(): Promise<void>;
}

/** Starts a subgraph on its own new database (migrated and seeded) with a real token issuer. */
export async function startTestSubgraph<TContext extends BaseContext>(module: SubgraphModule<TContext>): Promise<TestSubgraph<TContext>> {
  const database = await createTestDatabase(`test_${module.name}`);
  const issuer = await startTestIssuer();
  const env = subgraphEnvSchema.parse({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    OIDC_ISSUER_URL: issuer.issuer,
    SEED_ON_START: 'true',
  });
  const service = await startSubgraph(module, env);
  return {
    service,
    database,
    issuer,
    async execute<TData>(query: string, variables?: Record<string, unknown>, as?: DevUser) {
      const contextValue = await service.contextFor(as ? await issuer.tokenFor(as) : undefined);
      const response = await service.apollo.executeOperation<TData>({ query, ...(variables ? { variables } : {}) }, { contextValue });
      if (response.body.kind !== 'single') throw new Error('expected a single result');
      return { data: response.body.singleResult.data, errors: response.body.singleResult.errors };
    },
    async close() {
      await service.stop();
      await issuer.close();
      await database.drop();
    },
  };
}
