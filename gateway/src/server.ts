import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { FastifyRequest } from 'fastify';
import { AuthenticationError, bearerToken, createOidcTokenVerifier, type TokenVerifier } from '@agora/auth';
import { createHttpServer, createLogger, ErrorCode, formatGraphQLError } from '@agora/service';
import type { GatewayContext } from './context.ts';
import type { GatewayEnv } from './env.ts';
import { SubgraphDataSource } from './subgraph-data-source.ts';
import { subgraphs, supergraphPath, type SubgraphName } from './supergraph.ts';

const FORWARDED_HEADERS = ['traceparent', 'tracestate', 'baggage'] as const;

export interface RunningGateway {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  verifier?: TokenVerifier;
  supergraphSdl?: string;
}

const overrideOf = (env: GatewayEnv, name: SubgraphName): string | undefined =>
  ({ users: env.SUBGRAPH_USERS_URL, inventory: env.SUBGRAPH_INVENTORY_URL, orders: env.SUBGRAPH_ORDERS_URL, payments: env.SUBGRAPH_PAYMENTS_URL })[name];

export async function startGateway(env: GatewayEnv, options: GatewayOptions = {}): Promise<RunningGateway> {
  const logger = createLogger('gateway', env.LOG_LEVEL);
  const development = env.NODE_ENV !== 'production';
  const verifier = options.verifier ?? createOidcTokenVerifier({ issuer: env.OIDC_ISSUER_URL, audience: env.OIDC_AUDIENCE });
  const subgraphUrls = new Map(subgraphs.map(({ name, url }) => [name as string, overrideOf(env, name) ?? url]));

  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl ?? readFileSync(supergraphPath, 'utf8'),
    buildService: ({ name, url }) => new SubgraphDataSource({ url: subgraphUrls.get(name) ?? url }),
    logger,
  });

  const app = createHttpServer({
    logger,
    readiness: async () => {
      const down: string[] = [];
      await Promise.all(
        [...subgraphUrls].map(async ([name, url]) => {
          const response = await fetch(new URL('/health/ready', url), { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
          if (!response?.ok) down.push(name);
        }),
      );
      if (down.length > 0) throw new Error(`subgraphs not ready: ${down.join(', ')}`);
    },
  });
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: development,
    includeStacktraceInErrorResponses: development,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, development),
    plugins: [
      fastifyApolloDrainPlugin(app),
      development ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false }) : ApolloServerPluginLandingPageDisabled(),
    ],
    logger,
  });
  await apollo.start();

  const context = async (request: FastifyRequest): Promise<GatewayContext> => {
    const forward: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') forward[name] = value;
    }
    let token: string | undefined;
    try {
      token = bearerToken(request.headers.authorization);
      if (token === undefined) return { caller: undefined, forward };
      const caller = await verifier.verify(token);
      return { caller, forward: { ...forward, authorization: `Bearer ${token}` } };
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      throw Object.assign(new Error(error.message), {
        extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401, headers: new Map([['www-authenticate', 'Bearer error="invalid_token"']]) } },
      });
    }
  };
  const handler = fastifyApolloHandler(apollo, { context });
  app.route({ url: '/', method: ['GET', 'POST', 'OPTIONS'], handler });
  app.route({ url: '/graphql', method: ['GET', 'POST', 'OPTIONS'], handler });

  try {
    await app.listen({ host: env.HOST, port: env.PORT });
  } catch (error) {
    await apollo.stop();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const url = `http://${env.HOST}:${port}/`;
  logger.info({ url }, 'gateway ready');
  return { url, port, stop: () => app.close() };
}
