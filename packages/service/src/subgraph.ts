import { ApolloServer, type ContextFunction } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DocumentNode } from 'graphql';
import { z } from 'zod';
import { AuthenticationError, bearerToken, isUser, type Caller, type TokenVerifier } from '@agora/auth';
import { openDatabase, type DatabaseModule } from './database.ts';
import { envField } from './env.ts';
import { DomainError, ErrorCode, formatGraphQLError, unauthenticated } from './errors.ts';
import { graphqlTelemetryPlugin } from './graphql-telemetry.ts';
import { createHttpServer } from './http.ts';
import { createLogger, type Logger } from './logger.ts';
import { oidcEnvFields, tokenVerifierFromEnv } from './oidc.ts';

/** Configuration every subgraph reads from its environment (see each service's env.ts). */
export const subgraphEnvSchema = z.object({
  NODE_ENV: envField.nodeEnv(),
  HOST: envField.host(),
  PORT: envField.port(4000),
  LOG_LEVEL: envField.logLevel(),
  DATABASE_URL: envField.url('a PostgreSQL URL: postgres://user:password@host:5432/database'),
  /**
   * Connections this service may hold. Four services and their sidecars share one server (its
   * max_connections is 100 by default), and more connections than cores buys no throughput.
   */
  DATABASE_POOL_MAX: z.coerce.number({ message: 'expected a whole number ≥ 1' }).int().min(1).default(5),
  ...oidcEnvFields,
  MIGRATE_ON_START: envField.boolean(true),
  SEED_ON_START: envField.boolean(false),
  /** The app's Dapr sidecar (set by `dapr run` and the launcher); /health/details reports on it. */
  DAPR_HTTP_PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535).optional(),
});
export type SubgraphEnv = z.infer<typeof subgraphEnvSchema>;

/** What every resolver receives; subgraphs add their repositories on top. */
export interface BaseContext {
  /** A fork of the ORM's entity manager, private to this request. */
  em: EntityManager;
  /**
   * The signed-in customer or admin. Undefined for anonymous callers: every request carries a
   * verified token, but one without either role (the gateway's service token) is anonymous.
   */
  caller: Caller | undefined;
  log: Logger;
}

/** What a subgraph's extension gets: its HTTP server (before it listens), database, token verifier and configuration. */
export interface SubgraphParts {
  app: FastifyInstance;
  orm: MikroORM;
  verifier: TokenVerifier;
  logger: Logger;
  env: SubgraphEnv;
  /** Adds a dependency /health/ready requires (the database is always one); `check` rejects when it is down. */
  requireForReadiness: (name: string, check: () => Promise<void>) => void;
}

export interface SubgraphModule<TContext extends BaseContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  database: DatabaseModule;
  context: (base: BaseContext) => TContext;
  /**
   * More than GraphQL on the same port and lifetime: routes (the internal tRPC API, webhooks,
   * subscriptions) and background work (outbox relay). Runs before the server listens; what it
   * returns runs at shutdown, before the database closes.
   */
  extend?: (parts: SubgraphParts) => Promise<(() => Promise<void>) | undefined>;
}

export interface RunningSubgraph<TContext extends BaseContext> {
  url: string;
  port: number;
  apollo: ApolloServer<TContext>;
  orm: MikroORM;
  /** Builds the context a request with this bearer token would get; for tests through `executeOperation`. */
  contextFor(token: string): Promise<TContext>;
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
  const verifier = options.verifier ?? tokenVerifierFromEnv(env);
  const orm = await openDatabase(module.database, env.DATABASE_URL, { migrate: env.MIGRATE_ON_START, seed: env.SEED_ON_START, logger, poolMax: env.DATABASE_POOL_MAX });

  const contextFor = async (token: string): Promise<TContext> => {
    let verified: Caller;
    try {
      verified = await verifier.verify(token);
    } catch (error) {
      if (error instanceof AuthenticationError) throw new DomainError(ErrorCode.UNAUTHENTICATED, error.message);
      throw error;
    }
    return module.context({ em: orm.em.fork(), caller: isUser(verified) ? verified : undefined, log: logger });
  };

  const dependencies = new Map<string, () => Promise<void>>([
    [
      'database',
      async () => {
        // A query rather than checkConnection(): the connection is lazy, and a service started without
        // migrations has none until its first query, which an unready service would never get.
        await orm.em.getConnection().execute('select 1');
      },
    ],
  ]);
  const app = createHttpServer({ logger, readiness: dependencies, health: { service: module.name, daprHttpPort: env.DAPR_HTTP_PORT } });
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema([{ typeDefs: module.typeDefs, resolvers: module.resolvers }]),
    introspection: development,
    includeStacktraceInErrorResponses: development,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, development),
    plugins: [fastifyApolloDrainPlugin(app), ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), graphqlTelemetryPlugin(logger)],
    logger,
  });
  await apollo.start();

  const context: ContextFunction<[FastifyRequest], TContext> = async (request) => {
    try {
      // No request reaches a subgraph unauthenticated; the gateway sends its service token for anonymous callers.
      const token = bearerToken(request.headers.authorization);
      if (token === undefined) throw unauthenticated('A bearer token is required');
      return await contextFor(token);
    } catch (error) {
      throw asHttpError(error instanceof AuthenticationError ? unauthenticated(error.message) : error);
    }
  };
  app.route({ url: '/graphql', method: ['GET', 'POST', 'OPTIONS'], handler: fastifyApolloHandler(apollo, { context }) });

  let stopExtension: (() => Promise<void>) | undefined;
  try {
    const requireForReadiness = (name: string, check: () => Promise<void>) => void dependencies.set(name, check);
    stopExtension = await module.extend?.({ app, orm, verifier, logger, env, requireForReadiness });
    await app.listen({ host: env.HOST, port: env.PORT });
  } catch (error) {
    await stopExtension?.();
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
      await stopExtension?.();
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
