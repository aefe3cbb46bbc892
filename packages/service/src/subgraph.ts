import { ApolloServer, type ContextFunction } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { FastifyRequest } from 'fastify';
import type { DocumentNode } from 'graphql';
import { z } from 'zod';
import { AuthenticationError, bearerToken, createOidcTokenVerifier, type Caller, type TokenVerifier } from '@agora/auth';
import { openDatabase, type DatabaseModule } from './database.ts';
import { envField } from './env.ts';
import { DomainError, ErrorCode, formatGraphQLError } from './errors.ts';
import { createHttpServer } from './http.ts';
import { createLogger, type Logger } from './logger.ts';

/** Configuration every subgraph reads from its environment (see each service's env.ts). */
export const subgraphEnvSchema = z.object({
  NODE_ENV: envField.nodeEnv(),
  HOST: envField.host(),
  PORT: envField.port(4000),
  LOG_LEVEL: envField.logLevel(),
  DATABASE_URL: envField.url('a PostgreSQL URL: postgres://user:password@host:5432/database'),
  OIDC_ISSUER_URL: envField.url('the OIDC issuer URL, e.g. http://127.0.0.1:8080/realms/agora'),
  OIDC_AUDIENCE: z.string().min(1).default('agora-gateway'),
  MIGRATE_ON_START: envField.boolean(true),
  SEED_ON_START: envField.boolean(false),
});
export type SubgraphEnv = z.infer<typeof subgraphEnvSchema>;

/** What every resolver receives; subgraphs add their repositories on top. */
export interface BaseContext {
  /** A fork of the ORM's entity manager, private to this request. */
  em: EntityManager;
  /** Undefined for anonymous callers. */
  caller: Caller | undefined;
  log: Logger;
}

export interface SubgraphModule<TContext extends BaseContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  database: DatabaseModule;
  context: (base: BaseContext) => TContext;
}

export interface RunningSubgraph<TContext extends BaseContext> {
  url: string;
  port: number;
  apollo: ApolloServer<TContext>;
  orm: MikroORM;
  /** Builds the context a request with this bearer token would get; for tests through `executeOperation`. */
  contextFor(token?: string): Promise<TContext>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Replace the OIDC verifier (tests of other concerns still use a real issuer). */
  verifier?: TokenVerifier;
}

export async function startSubgraph<TContext extends BaseContext>(
  module: SubgraphModule<TContext>,
  env: SubgraphEnv,
  options: StartOptions = {},
): Promise<RunningSubgraph<TContext>> {
  const logger = createLogger(module.name, env.LOG_LEVEL);
  const development = env.NODE_ENV !== 'production';
  const verifier = options.verifier ?? createOidcTokenVerifier({ issuer: env.OIDC_ISSUER_URL, audience: env.OIDC_AUDIENCE });
  const orm = await openDatabase(module.database, env.DATABASE_URL, { migrate: env.MIGRATE_ON_START, seed: env.SEED_ON_START, logger });

  const contextFor = async (token?: string): Promise<TContext> => {
    let caller: Caller | undefined;
    if (token !== undefined) {
      try {
        caller = await verifier.verify(token);
      } catch (error) {
        if (error instanceof AuthenticationError) throw new DomainError(ErrorCode.UNAUTHENTICATED, error.message);
        throw error;
      }
    }
    return module.context({ em: orm.em.fork(), caller, log: logger });
  };

  const app = createHttpServer({
    logger,
    readiness: async () => {
      const status = await orm.checkConnection();
      if (!status.ok) throw new Error(`database: ${status.reason}`);
    },
  });
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema([{ typeDefs: module.typeDefs, resolvers: module.resolvers }]),
    introspection: development,
    includeStacktraceInErrorResponses: development,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, development),
    plugins: [fastifyApolloDrainPlugin(app), ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled()],
    logger,
  });
  await apollo.start();

  const context: ContextFunction<[FastifyRequest], TContext> = async (request) => {
    try {
      return await contextFor(bearerToken(request.headers.authorization));
    } catch (error) {
      throw asHttpError(error);
    }
  };
  app.route({ url: '/graphql', method: ['GET', 'POST', 'OPTIONS'], handler: fastifyApolloHandler(apollo, { context }) });

  try {
    await app.listen({ host: env.HOST, port: env.PORT });
  } catch (error) {
    await apollo.stop();
    await orm.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const url = `http://${env.HOST}:${port}/graphql`;
  logger.info({ url }, `${module.name} subgraph ready`);

  return {
    url,
    port,
    apollo,
    orm,
    contextFor,
    async stop() {
      await app.close();
      await orm.close();
    },
  };
}

/** A context that cannot be built (bad token) ends the request with 401 and a coded GraphQL error. */
function asHttpError(error: unknown): unknown {
  if (error instanceof DomainError && error.code === ErrorCode.UNAUTHENTICATED) {
    return Object.assign(new Error(error.message), {
      extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401, headers: new Map([['www-authenticate', 'Bearer']]) } },
    });
  }
  return error;
}
