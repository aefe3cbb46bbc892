import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { FastifyRequest } from 'fastify';
import { AuthenticationError, createClientCredentialsTokenSource, type Caller, type TokenVerifier } from '@agora/auth';
import { createHttpServer, createLogger, ErrorCode, formatGraphQLError, graphqlTelemetryPlugin, tokenVerifierFromEnv } from '@agora/service';
import { createAuthenticate, refuseTokenInQuery } from './authentication.ts';
import type { GatewayContext } from './context.ts';
import type { GatewayEnv } from './env.ts';
import { refusalHandler } from './http-errors.ts';
import { queryLimits } from './limits.ts';
import { operationResolutionPlugin } from './operation-resolution.ts';
import { registerRateLimit } from './rate-limit.ts';
import { mayShareFetch, SubgraphDataSource } from './subgraph-data-source.ts';
import { createSubgraphFetcher } from './subgraph-fetcher.ts';
import { subgraphs, supergraphPath, type SubgraphName } from './supergraph.ts';
import { registerSystemHealth, SYSTEM_HEALTH_PATH } from './system-health.ts';
import { registerWebApp } from './web-app.ts';

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

/** Where the gateway fetches a subgraph: through its Dapr sidecar by default, else directly. */
function subgraphUrl(env: GatewayEnv, name: SubgraphName, routingUrl: string): string {
  const transport = env.SUBGRAPH_TRANSPORT ?? (env.DAPR_HTTP_PORT === undefined ? 'direct' : 'dapr');
  if (transport === 'direct') return overrideOf(env, name) ?? routingUrl;
  if (env.DAPR_HTTP_PORT === undefined) throw new Error('SUBGRAPH_TRANSPORT=dapr needs DAPR_HTTP_PORT (the sidecar port)');
  return `http://127.0.0.1:${env.DAPR_HTTP_PORT}/v1.0/invoke/${name}/method/graphql`;
}

export async function startGateway(env: GatewayEnv, options: GatewayOptions = {}): Promise<RunningGateway> {
  const logger = createLogger('gateway', env.LOG_LEVEL);
  const development = env.NODE_ENV !== 'production';
  const verifier = options.verifier ?? tokenVerifierFromEnv(env);
  const authenticate = createAuthenticate(verifier);
  // Subgraphs refuse requests without a token; anonymous callers' requests carry this role-less one (ADR 0007).
  const serviceTokens = createClientCredentialsTokenSource({ issuer: env.OIDC_ISSUER_URL, clientId: env.GATEWAY_CLIENT_ID, clientSecret: env.GATEWAY_CLIENT_SECRET });
  const subgraphUrls = new Map(subgraphs.map(({ name, url }) => [name as string, subgraphUrl(env, name, url)]));

  const fetcher = createSubgraphFetcher({ shareable: env.SUBGRAPH_SHARE_ANONYMOUS_QUERIES ? mayShareFetch : undefined });
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl ?? readFileSync(supergraphPath, 'utf8'),
    buildService: ({ name, url }) => new SubgraphDataSource({ name, url: subgraphUrls.get(name) ?? url, fetcher: fetcher.fetch, logger, exposeUpstream: development }),
    logger,
  });

  const readiness = async () => {
    const down: string[] = [];
    await Promise.all(
      [...subgraphUrls].map(async ([name, url]) => {
        // The health path sits beside /graphql, directly or behind the sidecar's invoke path.
        const response = await fetch(url.replace(/graphql$/, 'health/ready'), { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        if (!response?.ok) down.push(name);
      }),
    );
    if (down.length > 0) throw new Error(`subgraphs not ready: ${down.join(', ')}`);
  };
  const app = createHttpServer({ logger, bodyLimitBytes: env.BODY_LIMIT_BYTES, readiness, answerError: refusalHandler(env.BODY_LIMIT_BYTES) });
  const limits = queryLimits(env, development);
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: development,
    includeStacktraceInErrorResponses: development,
    // Apollo's defaults, stated because the hardening relies on them: one operation per request, CSRF checks on.
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, development),
    plugins: [
      ...limits.plugins,
      operationResolutionPlugin(),
      fastifyApolloDrainPlugin(app),
      graphqlTelemetryPlugin(logger),
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
    let caller: Caller | undefined;
    try {
      caller = await authenticate(request);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      throw Object.assign(new Error(error.message), {
        extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401, headers: new Map([['www-authenticate', 'Bearer error="invalid_token"']]) } },
      });
    }
    const token = caller?.token ?? (await serviceTokens.token());
    return { caller, forward: { ...forward, authorization: `Bearer ${token}` } };
  };
  const handler = fastifyApolloHandler(apollo, { context });
  const limitRate = await registerRateLimit(app, env, authenticate, logger);
  registerSystemHealth(app, { authenticate, subgraphUrls, readiness, env, logger, rateLimit: limitRate });
  app.addHook('onClose', async () => {
    fetcher.close();
  });
  const onRequest = [refuseTokenInQuery, limitRate];
  app.route({ url: '/', method: ['GET', 'POST', 'OPTIONS'], onRequest, handler });
  app.route({ url: '/graphql', method: ['GET', 'POST', 'OPTIONS'], onRequest, handler });
  await registerWebApp(app, env, { graphqlPath: '/graphql', healthPath: SYSTEM_HEALTH_PATH });

  try {
    await app.listen({ host: env.HOST, port: env.PORT });
  } catch (error) {
    await apollo.stop();
    fetcher.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const url = `http://${env.HOST}:${port}/`;
  logger.info({ url }, 'gateway ready');
  return { url, port, stop: () => app.close() };
}
