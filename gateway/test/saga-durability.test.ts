import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, type RunningSystem } from '@agora/launcher';
import { dropDatabases, startRedisServer, testServerUrl, type RedisServer } from '@agora/testing';
import { passwordGrant } from '@agora/keycloak';

// Sagas survive their service dying: 200 orders in flight, then kill -9 of the orders app and
// later of its sidecar (each its own process here, with Redis Streams pub/sub so that events
// outlive them too). Every saga must end, nobody is charged twice, stock and payments agree
// with the confirmed orders, and no event is lost or applied twice. Step and payment-confirmation
// timeouts are long: on a loaded 2-core machine, recovery may take longer than their defaults,
// and this test is about crashes, not timeouts (saga.test.ts covers those).
//
// The pub/sub topics are Redis streams of a private redis-server, shared with nothing else.

const runFile = fileURLToPath(new URL('../../dapr/dapr.yaml', import.meta.url));
const prefix = `chaos_${randomBytes(3).toString('hex')}`;
const NOTEBOOK = '7c0a1000-0000-4000-8000-000000000010';
const CABLE = '7c0a1000-0000-4000-8000-000000000014';
const ORDERS = 200;

let system: RunningSystem;
let redis: RedisServer;

async function query<T>(service: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: new URL(`/${prefix}_agora_${service}`, testServerUrl()).href });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as T[];
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
  system = await launch({
    runFile,
    dataDir: '/nonexistent',
    databaseUrl: testServerUrl().href,
    databasePrefix: prefix,
    ports: 'auto',
    redisUrl: redis.url,
    sidecars: 'processes',
    extraEnv: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', SAGA_STEP_TIMEOUT_SECONDS: '120', PAYMENT_CONFIRMATION_TIMEOUT_SECONDS: '120', SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '500' },
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await redis?.stop();
  await dropDatabases(['users', 'inventory', 'orders', 'payments', 'dapr'].map((name) => `${prefix}_agora_${name}`));
});

describe('sagas across crashes', () => {
  it('finishes all 200 in-flight sagas after kill -9 of the orders app and of its sidecar: no double charge, stock and events consistent', async () => {
    const tokens = await Promise.all(
      (['alice', 'bob'] as const).map(async (user) => (await passwordGrant({ issuer: system.issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` })).accessToken),
    );
    const methods = ['pm_card_visa', 'pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_threeDSecureRequired', 'pm_card_flaky'];
    const stockBefore = await query<{ id: string; stock_on_hand: number }>('inventory', 'select id, stock_on_hand from products where id = any($1::uuid[]) order by id', [[NOTEBOOK, CABLE]]);

    // As a client should: a failed request (a timeout or an open breaker while the machine is
    // loaded) is sent again with the same idempotency key, which answers one order whatever happened.
    const placeOne = async (index: number): Promise<string> => {
      const body = JSON.stringify({
        query: 'mutation($input: PlaceOrderInput!, $key: String!) { placeOrder(input: $input, idempotencyKey: $key) { id } }',
        variables: { key: randomUUID(), input: { paymentMethod: methods[index % methods.length], lines: [{ productId: index % 3 === 0 ? CABLE : NOTEBOOK, quantity: 1 + (index % 2) }] } },
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        const response = await fetch(system.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[index % 2] ?? ''}` }, body });
        const answer = (await response.json()) as { data?: { placeOrder: { id: string } } | null; errors?: unknown[] };
        if (answer.data) return answer.data.placeOrder.id;
        if (Date.now() > deadline) throw new Error(`placeOrder failed: ${JSON.stringify(answer.errors)}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    };
    const ids: string[] = [];
    for (let batch = 0; batch < ORDERS; batch += 25) ids.push(...(await Promise.all(Array.from({ length: 25 }, (_, offset) => placeOne(batch + offset)))));

    // Sagas are in flight: crash the orders app, bring it back, then the same for its sidecar.
    await system.kill('orders', 'SIGKILL');
    await system.restart('orders');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await system.kill('orders-dapr', 'SIGKILL');
    await system.restart('orders-dapr');

    const deadline = Date.now() + 150_000;
    for (;;) {
      const [pending] = await query<{ count: string }>('dapr', "select count(*) from dapr_workflow_instances where app_id = 'orders' and status not in (1, 3, 4, 5)");
      if (pending?.count === '0') break;
      if (Date.now() > deadline) throw new Error(`${pending?.count ?? '?'} sagas never finished`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    const orders = await query<{ id: string; status: string; total_amount: number; payment_method: string; status_reason: string | null }>(
      'orders',
      'select id, status, total_amount, payment_method, status_reason from orders where id = any($1::uuid[])',
      [ids],
    );
    // On a failure, say why orders ended as they did: (status, payment method, reason) → count.
    const outcomes = Object.entries(Object.groupBy(orders, (order) => `${order.status} ${order.payment_method} ${order.status_reason ?? ''}`)).map(([key, group]) => `${group?.length ?? 0}× ${key}`);
    expect(orders).toHaveLength(ORDERS);
    const byStatus = Object.groupBy(orders, (order) => order.status);
    expect(Object.keys(byStatus).sort(), outcomes.join('\n')).toEqual(['CANCELLED', 'CONFIRMED']);
    const confirmed = new Set((byStatus['CONFIRMED'] ?? []).map((order) => order.id));
    // Every method but the declined card ends confirmed (plenty of stock).
    expect(confirmed.size, outcomes.join('\n')).toBe(ORDERS - ORDERS / methods.length);

    // Payments: exactly one capture per confirmed order, none for the others; the provider charged once per order.
    const payments = await query<{ order_id: string; status: string; amount: number }>('payments', 'select order_id, status, amount from payments where order_id = any($1::uuid[])', [ids]);
    const captured = payments.filter((payment) => payment.status === 'CAPTURED');
    expect(captured.map((payment) => payment.order_id).sort()).toEqual([...confirmed].sort());
    const totals = new Map(orders.map((order) => [order.id, order.total_amount]));
    expect(captured.every((payment) => payment.amount === totals.get(payment.order_id))).toBe(true);
    const providerCharges = await query<{ reference: string; charges: string }>('payments', "select reference, count(*) as charges from simulated_provider_charges where status in ('CAPTURED', 'SUCCEEDED') group by reference having count(*) > 1");
    expect(providerCharges).toEqual([]);

    // Stock: on hand fell by exactly the confirmed quantities; nothing is left reserved.
    const committed = await query<{ product_id: string; quantity: string }>('inventory', "select product_id, sum(quantity) as quantity from reservations where status = 'COMMITTED' group by product_id");
    const stockAfter = await query<{ id: string; stock_on_hand: number; stock_reserved: number }>('inventory', 'select id, stock_on_hand, stock_reserved from products where id = any($1::uuid[]) order by id', [[NOTEBOOK, CABLE]]);
    for (const product of stockAfter) {
      const before = stockBefore.find((row) => row.id === product.id)?.stock_on_hand ?? 0;
      expect(product.stock_on_hand).toBe(before - Number(committed.find((row) => row.product_id === product.id)?.quantity ?? 0));
      expect(product.stock_reserved).toBe(0);
    }
    const committedOrders = await query<{ order_id: string }>('inventory', "select distinct order_id from reservations where status = 'COMMITTED'");
    expect(committedOrders.map((row) => row.order_id).sort()).toEqual([...confirmed].sort());

    // Events: one order.confirmed per confirmed order, all published, and each turned into exactly one notification.
    const confirmedEvents = await query<{ subject: string; sent: boolean }>('orders', "select subject, sent_at is not null as sent from outbox_events where type = 'agora.order.confirmed.v1'");
    expect(confirmedEvents.map((event) => event.subject).sort()).toEqual([...confirmed].sort());
    const eventDeadline = Date.now() + 30_000;
    for (;;) {
      const [unsent] = await query<{ count: string }>('orders', 'select count(*) from outbox_events where sent_at is null');
      const [notified] = await query<{ count: string }>('users', "select count(*) from notifications where kind = 'ORDER_CONFIRMED'");
      if (unsent?.count === '0' && Number(notified?.count) >= confirmed.size) break;
      if (Date.now() > eventDeadline) throw new Error(`events not delivered: ${unsent?.count ?? '?'} unsent, ${notified?.count ?? '?'} confirmation notifications`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const duplicates = await query<{ order_id: string }>('users', "select order_id from notifications where kind = 'ORDER_CONFIRMED' group by order_id having count(*) > 1");
    expect(duplicates).toEqual([]);
  }, 300_000);
});
