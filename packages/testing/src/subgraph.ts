import { startSubgraph, subgraphEnvSchema, type BaseContext, type RunningSubgraph, type SubgraphModule } from '@agora/service';
import type { GraphQLFormattedError } from 'graphql';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { startTestIssuer, type DevUser, type TestIssuer } from './identity.ts';

export interface OperationResult<TData> {
  data: TData | null | undefined;
  errors: readonly GraphQLFormattedError[] | undefined;
}

export interface HttpOperationResult<TData> extends OperationResult<TData> {
  status: number;
  headers: Headers;
}

export interface TestSubgraph<TContext extends BaseContext> {
  service: RunningSubgraph<TContext>;
  database: TestDatabase;
  issuer: TestIssuer;
  /**
   * Runs an operation through the subgraph's ApolloServer as `as`; when omitted, as an anonymous
   * caller, which (as through the gateway) means with the role-less service token.
   */
  execute<TData = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, as?: DevUser): Promise<OperationResult<TData>>;
  /** POSTs an operation to the subgraph's HTTP endpoint as a caller from outside would, with `token` when given. */
  post<TData = Record<string, unknown>>(query: string, options?: { variables?: Record<string, unknown>; token?: string }): Promise<HttpOperationResult<TData>>;
  close(): Promise<void>;
}

export interface TestSubgraphOptions {
  /** An issuer shared with other services of the test; the caller closes it. A new one by default. */
  issuer?: TestIssuer;
}

/** Starts a subgraph on its own new database (migrated and seeded) with a real token issuer. */
export async function startTestSubgraph<TContext extends BaseContext>(module: SubgraphModule<TContext>, options: TestSubgraphOptions = {}): Promise<TestSubgraph<TContext>> {
  const database = await createTestDatabase(`test_${module.name}`);
  const issuer = options.issuer ?? (await startTestIssuer());
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
      const contextValue = await service.contextFor(as ? await issuer.tokenFor(as) : await issuer.serviceToken());
      const response = await service.apollo.executeOperation<TData>({ query, ...(variables ? { variables } : {}) }, { contextValue });
      if (response.body.kind !== 'single') throw new Error('expected a single result');
      return { data: response.body.singleResult.data, errors: response.body.singleResult.errors };
    },
    async post<TData>(query: string, options: { variables?: Record<string, unknown>; token?: string } = {}) {
      const response = await fetch(service.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
        body: JSON.stringify({ query, variables: options.variables }),
      });
      const body = (await response.json()) as OperationResult<TData>;
      return { status: response.status, headers: response.headers, data: body.data, errors: body.errors };
    },
    async close() {
      await service.stop();
      if (!options.issuer) await issuer.close();
      await database.drop();
    },
  };
}
