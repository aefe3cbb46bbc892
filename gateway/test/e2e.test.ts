import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, type RunningSystem } from '@agora/launcher';
import { devUserIds, dropDatabases, testServerUrl } from '@agora/testing';
import { passwordGrant } from '@agora/keycloak';
import { loadEnv } from '../src/env.ts';
import { startGateway, type RunningGateway } from '../src/server.ts';

// The whole system as `npm start` runs it: every app a real process, real PostgreSQL, real tokens.
const runFile = fileURLToPath(new URL('../../dapr/dapr.yaml', import.meta.url));
const prefix = `e2e_${randomBytes(3).toString('hex')}`;
let system: RunningSystem;

beforeAll(async () => {
  system = await launch({ runFile, dataDir: '/nonexistent', databaseUrl: testServerUrl().href, databasePrefix: prefix, ports: 'auto', extraEnv: { LOG_LEVEL: 'warn' } });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await dropDatabases(['users', 'inventory', 'orders', 'payments', 'dapr'].map((name) => `${prefix}_agora_${name}`));
});

interface GraphQLResponse<T> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const tokens = new Map<string, Promise<string>>();
const tokenFor = (user: 'alice' | 'bob' | 'admin') => {
  if (!tokens.has(user)) tokens.set(user, passwordGrant({ issuer: system.issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` }).then((t) => t.accessToken));
  return tokens.get(user) as Promise<string>;
};

async function graphql<T>(query: string, options: { as?: 'alice' | 'bob' | 'admin'; token?: string; variables?: Record<string, unknown>; url?: string } = {}): Promise<GraphQLResponse<T>> {
  const token = options.token ?? (options.as ? await tokenFor(options.as) : undefined);
  const response = await fetch(options.url ?? system.gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  return { status: response.status, ...((await response.json()) as Omit<GraphQLResponse<T>, 'status'>) };
}

interface MeView {
  me: {
    id: string;
    username: string;
    orders: { id: string; status: string; total: { amount: number }; lines: { quantity: number; product: { name: string; stock: number } }[]; payment: { status: string } | null }[];
  };
}

describe('the federated gateway', () => {
  it('serves the catalog to anonymous callers', async () => {
    const { status, data, errors } = await graphql<{ products: { totalCount: number; nodes: { name: string; stock: number }[] } }>(
      '{ products(first: 3) { totalCount nodes { name stock } } }',
    );
    expect(status).toBe(200);
    expect(errors).toBeUndefined();
    expect(data?.products.totalCount).toBe(20);
    expect(data?.products.nodes).toHaveLength(3);
  });

  it('resolves one query across all four subgraphs: me, orders, lines, products and payments', async () => {
    const { data, errors } = await graphql<MeView>(
      '{ me { id username orders { id status total { amount } lines { quantity product { name stock } } payment { status } } } }',
      { as: 'alice' },
    );
    expect(errors).toBeUndefined();
    expect(data?.me).toMatchObject({ id: devUserIds.alice, username: 'alice' });
    const orders = data?.me.orders ?? [];
    expect(orders.map((o) => [o.status, o.payment?.status])).toEqual([
      ['CANCELLED', 'DECLINED'],
      ['CONFIRMED', 'CAPTURED'],
    ]);
    const confirmed = orders[1];
    expect(confirmed?.lines.map((l) => l.product.name).sort()).toEqual(['Mechanical keyboard', 'Wireless mouse']);
    expect(confirmed?.lines.every((l) => l.product.stock > 0)).toBe(true);
  });

  it("keeps customers out of each other's orders", async () => {
    const { data, errors } = await graphql<{ order: unknown }>('query($id: ID!) { order(id: $id) { id payment { status } } }', {
      as: 'bob',
      variables: { id: '0d0e1000-0000-4000-8000-000000000001' },
    });
    expect(data?.order ?? null).toBeNull();
    expect(errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('shows an admin mutation through the gateway in the next read', async () => {
    const id = '7c0a1000-0000-4000-8000-000000000020';
    const before = await graphql<{ product: { stock: number } }>('query($id: ID!) { product(id: $id) { stock } }', { variables: { id } });
    const restock = await graphql<{ restockProduct: { stock: number } }>('mutation($id: ID!) { restockProduct(id: $id, quantity: 4) { stock } }', { as: 'admin', variables: { id } });
    expect(restock.errors).toBeUndefined();
    expect(restock.data?.restockProduct.stock).toBe((before.data?.product.stock ?? 0) + 4);
  });

  it('requires a token for me, and refuses a bad token with 401', async () => {
    const anonymous = await graphql('{ me { id } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const forged = await graphql('{ products { totalCount } }', { token: 'eyJhbGciOiJub25lIn0.e30.' });
    expect(forged.status).toBe(401);
    expect(forged.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('reports invalid queries with GRAPHQL_VALIDATION_FAILED and unknown ids with NOT_FOUND', async () => {
    const invalid = await graphql('{ products { nope } }');
    expect(invalid.status).toBe(400);
    expect(invalid.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const unknown = await graphql('{ product(id: "7c0a1000-0000-4000-8000-00000000ffff") { id } }');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('leaves subgraphs closed to direct calls without a token, _entities included', async () => {
    const inventory = system.apps.find((app) => app.id === 'inventory')?.url ?? '';
    const catalog = await graphql('{ products { totalCount } }', { url: inventory });
    const entities = await graphql('{ _entities(representations: [{ __typename: "Product", id: "7c0a1000-0000-4000-8000-000000000001" }]) { ... on Product { name } } }', { url: inventory });
    for (const response of [catalog, entities]) {
      expect(response.status).toBe(401);
      expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('serves the Apollo Sandbox landing page at its root in development', async () => {
    const response = await fetch(system.gatewayUrl, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/sandbox/i);
  });
});

describe('the gateway in production mode', () => {
  let production: RunningGateway;
  beforeAll(async () => {
    const subgraphUrl = (id: string) => system.apps.find((app) => app.id === id)?.url ?? '';
    production = await startGateway(
      loadEnv({
        NODE_ENV: 'production',
        PORT: '0',
        LOG_LEVEL: 'warn',
        OIDC_ISSUER_URL: system.issuer,
        SUBGRAPH_USERS_URL: subgraphUrl('users'),
        SUBGRAPH_INVENTORY_URL: subgraphUrl('inventory'),
        SUBGRAPH_ORDERS_URL: subgraphUrl('orders'),
        SUBGRAPH_PAYMENTS_URL: subgraphUrl('payments'),
      }),
    );
  });
  afterAll(() => production?.stop());

  it('refuses introspection', async () => {
    const { errors } = await graphql('{ __schema { types { name } } }', { url: production.url });
    expect(errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('serves no landing page and still answers queries', async () => {
    const page = await fetch(production.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/sandbox/i);
    const { data } = await graphql<{ products: { totalCount: number } }>('{ products { totalCount } }', { url: production.url });
    expect(data?.products.totalCount).toBe(20);
  });
});
