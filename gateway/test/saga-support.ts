import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { launch, type RunningSystem } from '@agora/launcher';
import { dropDatabases, startRedisServer, testServerUrl } from '@agora/testing';
import { passwordGrant } from '@agora/keycloak';

// The whole system as `npm start` runs it (every app beside its local sidecar, real PostgreSQL,
// real tokens), with pub/sub on Redis Streams of a private redis-server (so that systems of
// concurrent test files never share a stream), for the saga test files, and what they ask of it
// through the gateway and the services' own databases.

export type User = 'alice' | 'bob' | 'admin';
export type Service = 'users' | 'inventory' | 'orders' | 'payments';

export interface GraphQLResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface OrderView {
  id: string;
  status: string;
  statusReason: string | null;
  total: { amount: number };
  saga: { status: string; runtimeStatus: string | null; currentStep: string | null; steps: { name: string; status: string; compensation: boolean; attempts: number; error: string | null }[] };
}

export const ORDER_FIELDS = 'id status statusReason total { amount } saga { status runtimeStatus currentStep steps { name status compensation attempts error } }';

export interface SagaSystem {
  system: RunningSystem;
  graphql<T>(as: User, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  ok<T>(as: User, query: string, variables?: Record<string, unknown>): Promise<T>;
  token(as: User): Promise<string>;
  /** placeOrder for `lines` ("buy now"), with a new idempotency key. */
  buy(as: User, paymentMethod: string, lines: [string, number][]): Promise<OrderView>;
  order(as: User, id: string): Promise<OrderView>;
  /** The order once its saga has finished (the workflow is no longer running). */
  settled(as: User, id: string, timeoutMs?: number): Promise<OrderView>;
  /** Polls the order until `accept` holds; fails with the last view after `timeoutMs`. */
  orderWhen(as: User, id: string, accept: (order: OrderView) => boolean, timeoutMs?: number): Promise<OrderView>;
  stockOf(productId: string): Promise<number>;
  query<T>(service: Service, sql: string, values?: unknown[]): Promise<T[]>;
  /** The GraphQL URL of an app (not through the gateway). */
  appUrl(id: Service): string;
  stop(): Promise<void>;
}

/** Polls `attempt` until it returns a value `accept`s; throws with the last value after `timeoutMs`. */
export async function until<T>(what: string, attempt: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startSagaSystem(extraEnv: Record<string, string>): Promise<SagaSystem> {
  const prefix = `saga_${randomBytes(3).toString('hex')}`;
  const databases = ['users', 'inventory', 'orders', 'payments', 'dapr'].map((name) => `${prefix}_agora_${name}`);
  const redis = await startRedisServer();
  let system: RunningSystem;
  try {
    system = await launch({
      runFile: fileURLToPath(new URL('../../dapr/dapr.yaml', import.meta.url)),
      dataDir: '/nonexistent',
      databaseUrl: testServerUrl().href,
      databasePrefix: prefix,
      ports: 'auto',
      redisUrl: redis.url,
      extraEnv: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', ...extraEnv },
    });
  } catch (error) {
    await redis.stop();
    await dropDatabases(databases);
    throw error;
  }
  const tokens = new Map<User, Promise<string>>();
  const token = (user: User) => {
    if (!tokens.has(user)) tokens.set(user, passwordGrant({ issuer: system.issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` }).then((t) => t.accessToken));
    return tokens.get(user) as Promise<string>;
  };
  const graphql = async <T>(as: User, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<T>> => {
    const response = await fetch(system.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(as)}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLResponse<T>;
  };
  const ok = async <T>(as: User, query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const { data, errors } = await graphql<T>(as, query, variables);
    if (errors) throw new Error(`GraphQL errors: ${JSON.stringify(errors)}`);
    return data as T;
  };
  const order = async (as: User, id: string) => (await ok<{ order: OrderView }>(as, `query($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`, { id })).order;
  const orderWhen = (as: User, id: string, accept: (view: OrderView) => boolean, timeoutMs = 20_000) => until(`order ${id}`, () => order(as, id), accept, timeoutMs);
  return {
    system,
    graphql,
    ok,
    token,
    async buy(as, paymentMethod, lines) {
      const data = await ok<{ placeOrder: OrderView }>(as, `mutation($input: PlaceOrderInput!, $key: String!) { placeOrder(input: $input, idempotencyKey: $key) { ${ORDER_FIELDS} } }`, {
        input: { paymentMethod, lines: lines.map(([productId, quantity]) => ({ productId, quantity })) },
        key: randomUUID(),
      });
      return data.placeOrder;
    },
    order,
    orderWhen,
    async settled(as, id, timeoutMs = 30_000) {
      // One response reads the order before the workflow's runtime status, so it can show a saga
      // that has just COMPLETED beside the order as it was a moment before: wait for both.
      const done = (current: OrderView) => (current.saga.runtimeStatus === 'COMPLETED' ? current.status !== 'PENDING' : ['FAILED', 'TERMINATED'].includes(current.saga.runtimeStatus ?? ''));
      const view = await orderWhen(as, id, done, timeoutMs);
      if (view.saga.runtimeStatus !== 'COMPLETED') throw new Error(`the saga of ${id} is ${view.saga.runtimeStatus}`);
      return view;
    },
    async stockOf(productId) {
      return (await ok<{ product: { stock: number } }>('alice', 'query($id: ID!) { product(id: $id) { stock } }', { id: productId })).product.stock;
    },
    async query<T>(service: Service, sql: string, values: unknown[] = []) {
      const client = new pg.Client({ connectionString: new URL(`/${prefix}_agora_${service}`, testServerUrl()).href });
      await client.connect();
      try {
        return (await client.query(sql, values)).rows as T[];
      } finally {
        await client.end();
      }
    },
    appUrl(id) {
      const app = system.apps.find((candidate) => candidate.id === id);
      if (!app) throw new Error(`no app ${id}`);
      return app.url;
    },
    async stop() {
      await system.stop();
      await redis.stop();
      await dropDatabases(databases);
    },
  };
}
