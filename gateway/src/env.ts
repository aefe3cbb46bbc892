import { envField, oidcEnvFields, parseEnv } from '@agora/service';
import { z } from 'zod';

const optionalUrl = (what: string) => envField.url(what).optional();
const limit = (fallback: number) => z.coerce.number({ message: 'expected a positive whole number' }).int().min(1).default(fallback);

const schema = z.object({
  NODE_ENV: envField.nodeEnv(),
  HOST: envField.host(),
  PORT: envField.port(4000),
  LOG_LEVEL: envField.logLevel(),
  ...oidcEnvFields,
  /** The gateway's own confidential client; its role-less service token goes to subgraphs for anonymous callers. */
  GATEWAY_CLIENT_ID: z.string().min(1).default('agora-gateway-anonymous'),
  GATEWAY_CLIENT_SECRET: z.string().min(1).default('agora-gateway-anonymous-dev-secret'),
  GRAPHQL_MAX_DEPTH: limit(8),
  GRAPHQL_MAX_COST: limit(5000),
  GRAPHQL_MAX_ALIASES: limit(15),
  GRAPHQL_MAX_DIRECTIVES: limit(50),
  GRAPHQL_MAX_TOKENS: limit(1000),
  BODY_LIMIT_BYTES: limit(102_400),
  RATE_LIMIT_WINDOW_MS: limit(60_000),
  /** Requests per window for each signed-in caller (token `sub`). */
  RATE_LIMIT_MAX: limit(300),
  /** Requests per window for each client address without a token. */
  RATE_LIMIT_ANONYMOUS_MAX: limit(120),
  /** Rate-limit counters live in this Redis when set (shared by every gateway instance), else in memory. */
  REDIS_URL: optionalUrl('a Redis URL, e.g. redis://127.0.0.1:6379'),
  RATE_LIMIT_KEY_PREFIX: z.string().min(1).default('agora:gateway:rate-limit:'),
  /** Overrides of the routing URLs in supergraph.graphql, e.g. when ports differ. */
  SUBGRAPH_USERS_URL: optionalUrl('the users subgraph GraphQL URL'),
  SUBGRAPH_INVENTORY_URL: optionalUrl('the inventory subgraph GraphQL URL'),
  SUBGRAPH_ORDERS_URL: optionalUrl('the orders subgraph GraphQL URL'),
  SUBGRAPH_PAYMENTS_URL: optionalUrl('the payments subgraph GraphQL URL'),
  /** Set by `dapr run` and the launcher: subgraphs are then reached through Dapr service invocation. */
  DAPR_HTTP_PORT: z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535).optional(),
  /** `dapr` (through the sidecar; the default when DAPR_HTTP_PORT is set) or `direct` (the URLs above). */
  SUBGRAPH_TRANSPORT: z.enum(['dapr', 'direct'], { message: 'expected dapr or direct' }).optional(),
  /**
   * An anonymous caller's query joins an identical subgraph fetch already in flight instead of
   * sending its own (docs/adr/0021); `false` sends every fetch.
   */
  SUBGRAPH_SHARE_ANONYMOUS_QUERIES: envField.boolean(true),
  /** The built web app (web/dist) served at /shop/; unset: the repository's web/dist. */
  WEB_ROOT: z.string().min(1).optional(),
  /** The browser's public OIDC client (authorization code with PKCE). */
  WEB_OIDC_CLIENT_ID: z.string().min(1).default('agora-web'),
  /** The issuer as browsers reach it, when that differs from OIDC_ISSUER_URL (e.g. inside a cluster). */
  WEB_OIDC_ISSUER_URL: optionalUrl('the issuer URL browsers use'),
});

export type GatewayEnv = z.infer<typeof schema>;

export const loadEnv = (source: NodeJS.ProcessEnv): GatewayEnv => parseEnv(schema, source);
