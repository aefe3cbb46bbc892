import { envField, parseEnv } from '@agora/service';
import { z } from 'zod';

const optionalUrl = (what: string) => envField.url(what).optional();

const schema = z.object({
  NODE_ENV: envField.nodeEnv(),
  HOST: envField.host(),
  PORT: envField.port(4000),
  LOG_LEVEL: envField.logLevel(),
  OIDC_ISSUER_URL: envField.url('the OIDC issuer URL, e.g. http://127.0.0.1:8080/realms/agora'),
  OIDC_AUDIENCE: z.string().min(1).default('agora-gateway'),
  /** Overrides of the routing URLs in supergraph.graphql, e.g. when ports differ. */
  SUBGRAPH_USERS_URL: optionalUrl('the users subgraph GraphQL URL'),
  SUBGRAPH_INVENTORY_URL: optionalUrl('the inventory subgraph GraphQL URL'),
  SUBGRAPH_ORDERS_URL: optionalUrl('the orders subgraph GraphQL URL'),
  SUBGRAPH_PAYMENTS_URL: optionalUrl('the payments subgraph GraphQL URL'),
});

export type GatewayEnv = z.infer<typeof schema>;

export const loadEnv = (source: NodeJS.ProcessEnv): GatewayEnv => parseEnv(schema, source);
