import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDER_FIELDS, startSagaSystem, until, type OrderView, type SagaSystem, type Service, type User } from './saga-support.ts';

// The order saga end to end, as `npm start` runs it: every app a real process beside its local
// sidecar, the OrderSaga on the workflow engine, real PostgreSQL, Redis and real tokens.

let agora: SagaSystem;

const KEYBOARD = '7c0a1000-0000-4000-8000-000000000001';
const MOUSE = '7c0a1000-0000-4000-8000-000000000002';
const DESK = '7c0a1000-0000-4000-8000-000000000008';

beforeAll(async () => {
  agora = await startSagaSystem({
    PAYMENT_CONFIRMATION_TIMEOUT_SECONDS: '8',
    SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '2000',
    SAGA_STEP_TIMEOUT_SECONDS: '60',
  });
}, 120_000);

afterAll(async () => {
  await agora?.stop();
});

const graphql = <T>(as: User, query: string, variables?: Record<string, unknown>) => agora.graphql<T>(as, query, variables);
const ok = <T>(as: User, query: string, variables?: Record<string, unknown>) => agora.ok<T>(as, query, variables);
const settled = (as: User, id: string, timeoutMs?: number) => agora.settled(as, id, timeoutMs);
const stockOf = async (productId: string): Promise<{ stock: number }> => ({ stock: await agora.stockOf(productId) });
const inDatabase = <T>(name: Service, sql: string, values: unknown[]) => agora.query<T>(name, sql, values);

async function fillCart(as: User, lines: [string, number][]): Promise<void> {
  for (const [productId, quantity] of lines) await ok(as, 'mutation($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { itemCount } }', { p: productId, q: quantity });
}

async function place(as: User, paymentMethod: string, key = randomUUID()): Promise<OrderView> {
  const data = await ok<{ placeOrder: OrderView }>(as, `mutation($input: PlaceOrderInput!, $key: String!) { placeOrder(input: $input, idempotencyKey: $key) { ${ORDER_FIELDS} } }`, {
    input: { paymentMethod },
    key,
  });
  return data.placeOrder;
}

describe('the cart', () => {
  it('adds, changes and removes lines, and refuses bad quantities and unknown products', async () => {
    await fillCart('bob', [
      [KEYBOARD, 1],
      [MOUSE, 2],
    ]);
    await ok('bob', 'mutation($p: ID!) { setCartQuantity(productId: $p, quantity: 3) { itemCount } }', { p: MOUSE });
    await ok('bob', 'mutation($p: ID!) { removeFromCart(productId: $p) { itemCount } }', { p: KEYBOARD });
    const { me } = await ok<{ me: { cart: { itemCount: number; lines: { quantity: number; product: { id: string; name: string } }[] } } }>(
      'bob',
      '{ me { cart { itemCount lines { quantity product { id name } } } } }',
    );
    expect(me.cart).toEqual({ itemCount: 3, lines: [{ quantity: 3, product: { id: MOUSE, name: 'Wireless mouse' } }] });
    const negative = await graphql('bob', 'mutation($p: ID!) { addToCart(productId: $p, quantity: -1) { itemCount } }', { p: MOUSE });
    expect(negative.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const unknown = await graphql('bob', 'mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { itemCount } }', { p: '7c0a1000-0000-4000-8000-00000000ffff' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const tooMany = await graphql('bob', 'mutation($p: ID!) { addToCart(productId: $p, quantity: 99) { itemCount } }', { p: DESK });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('OUT_OF_STOCK');
    await ok('bob', 'mutation($p: ID!) { removeFromCart(productId: $p) { itemCount } }', { p: MOUSE });
  });

  it('adds a change sent again with its idempotency key once (at once, later, after an order emptied the cart) and refuses the key for another change', async () => {
    const ADD = 'mutation($p: ID!, $q: Int!, $key: String) { addToCart(productId: $p, quantity: $q, idempotencyKey: $key) { itemCount } }';
    const key = randomUUID();
    const together = await Promise.all(Array.from({ length: 3 }, () => ok<{ addToCart: { itemCount: number } }>('bob', ADD, { p: MOUSE, q: 2, key })));
    expect(together.map((answer) => answer.addToCart.itemCount)).toEqual([2, 2, 2]);
    expect((await ok<{ addToCart: { itemCount: number } }>('bob', ADD, { p: MOUSE, q: 2, key })).addToCart.itemCount).toBe(2);
    for (const other of [{ p: MOUSE, q: 1 }, { p: KEYBOARD, q: 2 }]) {
      expect((await graphql('bob', ADD, { ...other, key })).errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    }
    expect((await graphql('bob', ADD, { p: MOUSE, q: 1, key: 'short' })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await settled('bob', (await place('bob', 'pm_card_visa')).id);
    expect((await ok<{ addToCart: { itemCount: number } }>('bob', ADD, { p: MOUSE, q: 2, key })).addToCart.itemCount).toBe(0);
  });
});

describe('placeOrder and the OrderSaga', () => {
  it('confirms an order paid by card: stock committed, payment captured, steps recorded', async () => {
    const before = await stockOf(KEYBOARD);
    await fillCart('alice', [[KEYBOARD, 2]]);
    const placed = await place('alice', 'pm_card_visa');
    expect(placed.status).toBe('PENDING');
    expect(placed.total.amount).toBe(2 * 8900);
    const order = await settled('alice', placed.id);
    expect(order.status).toBe('CONFIRMED');
    expect(order.saga.status).toBe('COMPLETED');
    expect(order.saga.steps.map((step) => [step.name, step.status])).toEqual(
      expect.arrayContaining([
        [`reserve-stock:${KEYBOARD}`, 'SUCCEEDED'],
        ['charge-payment', 'SUCCEEDED'],
        ['confirm-order', 'SUCCEEDED'],
        ['commit-stock', 'SUCCEEDED'],
      ]),
    );
    expect((await stockOf(KEYBOARD)).stock).toBe(before.stock - 2);
    const payments = await inDatabase<{ status: string; amount: number }>('payments', 'select status, amount from payments where order_id = $1', [placed.id]);
    expect(payments).toEqual([{ status: 'CAPTURED', amount: 2 * 8900 }]);
  });

  it('compensates a declined payment: stock released, order cancelled with the reason', async () => {
    const before = await stockOf(MOUSE);
    await fillCart('alice', [[MOUSE, 1]]);
    const order = await settled('alice', (await place('alice', 'pm_card_chargeDeclined')).id);
    expect(order.status).toBe('CANCELLED');
    expect(order.saga.status).toBe('COMPENSATED');
    expect(order.statusReason).toMatch(/declined/i);
    expect(order.saga.steps.filter((step) => step.compensation).map((step) => [step.name, step.status])).toEqual(
      expect.arrayContaining([
        ['release-stock', 'SUCCEEDED'],
        ['cancel-order', 'SUCCEEDED'],
      ]),
    );
    expect((await stockOf(MOUSE)).stock).toBe(before.stock);
  });

  it('answers the same order for the same idempotency key, and refuses the key for another cart', async () => {
    await fillCart('bob', [[MOUSE, 1]]);
    const key = randomUUID();
    const [first, second] = await Promise.all([place('bob', 'pm_card_visa', key), place('bob', 'pm_card_visa', key)]);
    expect(second.id).toBe(first.id);
    await settled('bob', first.id);
    // Regression: once the order had emptied the cart, the same key answered "the cart is empty".
    expect((await place('bob', 'pm_card_visa', key)).id).toBe(first.id);
    await fillCart('bob', [[KEYBOARD, 1]]);
    const reused = await graphql('bob', 'mutation($key: String!) { placeOrder(input: { paymentMethod: "pm_card_visa" }, idempotencyKey: $key) { id } }', { key });
    expect(reused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await ok('bob', 'mutation($p: ID!) { removeFromCart(productId: $p) { itemCount } }', { p: KEYBOARD });
    const rows = await inDatabase<{ count: string }>('orders', 'select count(*) from orders where id = $1', [first.id]);
    expect(rows[0]?.count).toBe('1');
  });

  it('refuses an empty cart and a bad idempotency key', async () => {
    const empty = await graphql('bob', 'mutation { placeOrder(input: { paymentMethod: "pm_card_visa" }, idempotencyKey: "abcdefgh-1") { id } }');
    expect(empty.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const badKey = await graphql('bob', 'mutation { placeOrder(input: { paymentMethod: "pm_card_visa" }, idempotencyKey: "x") { id } }');
    expect(badKey.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('refuses an unknown payment method before creating anything: no order, no saga, no idempotency record', async () => {
    const orderCount = async () => (await inDatabase<{ count: string }>('orders', 'select count(*) from orders', []))[0]?.count;
    await fillCart('bob', [[MOUSE, 1]]);
    const before = await orderCount();
    const key = randomUUID();
    const unknown = await graphql('bob', 'mutation($key: String!) { placeOrder(input: { paymentMethod: "pm_card_bitcoin" }, idempotencyKey: $key) { id } }', { key });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(unknown.errors?.[0]?.message).toMatch(/unknown payment method "pm_card_bitcoin".*pm_card_visa/);
    expect(await orderCount()).toBe(before);
    // The key was never claimed: the same key places the order once the method is right (a claimed
    // key would answer IDEMPOTENCY_KEY_REUSED for this other request).
    const placed = await place('bob', 'pm_card_visa', key);
    expect((await settled('bob', placed.id)).status).toBe('CONFIRMED');
    expect(await orderCount()).toBe(String(Number(before) + 1));
  });

  it('refuses to cancel a confirmed order and changes nothing', async () => {
    await fillCart('alice', [[KEYBOARD, 1]]);
    const order = await settled('alice', (await place('alice', 'pm_card_visa')).id);
    expect(order.status).toBe('CONFIRMED');
    const stock = await stockOf(KEYBOARD);
    const refused = await graphql('alice', 'mutation($id: ID!) { cancelOrder(id: $id) { id } }', { id: order.id });
    expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(refused.errors?.[0]?.message).toMatch(/CONFIRMED and can no longer be cancelled/);
    const after = await settled('alice', order.id);
    expect(after).toEqual(order);
    expect(await stockOf(KEYBOARD)).toEqual(stock);
    expect(await inDatabase('payments', 'select status from payments where order_id = $1', [order.id])).toEqual([{ status: 'CAPTURED' }]);
    expect(await inDatabase('payments', 'select count(*)::int as refunds from refunds where order_id = $1', [order.id])).toEqual([{ refunds: 0 }]);
    const events = await inDatabase<{ type: string }>('orders', 'select type from outbox_events where subject = $1 order by type', [order.id]);
    expect(events.map((event) => event.type)).not.toContain('agora.order.cancelled.v1');
  });

  it('waits for an asynchronous payment confirmation (3-D Secure), delivered by webhook and event, then confirms', async () => {
    await fillCart('bob', [[MOUSE, 1]]);
    const order = await settled('bob', (await place('bob', 'pm_card_threeDSecureRequired')).id);
    expect(order.status).toBe('CONFIRMED');
    const payments = await inDatabase<{ status: string }>('payments', 'select status from payments where order_id = $1', [order.id]);
    expect(payments).toEqual([{ status: 'CAPTURED' }]);
  });

  it('cancels an order waiting for payment confirmation when the customer asks', async () => {
    await fillCart('alice', [[MOUSE, 1]]);
    const placed = await place('alice', 'pm_card_threeDSecureRequired');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { order } = await ok<{ order: { saga: { currentStep: string | null } } }>('alice', 'query($id: ID!) { order(id: $id) { saga { currentStep } } }', { id: placed.id });
      if (order.saga.currentStep === 'await-payment-confirmation') break;
      if (Date.now() > deadline) throw new Error('the saga never waited for the payment confirmation');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await ok('alice', 'mutation($id: ID!) { cancelOrder(id: $id) { id } }', { id: placed.id });
    const order = await settled('alice', placed.id);
    expect(order.status).toBe('CANCELLED');
    const again = await graphql('alice', 'mutation($id: ID!) { cancelOrder(id: $id) { id } }', { id: placed.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  it("keeps another customer's order out of reach", async () => {
    await fillCart('alice', [[MOUSE, 1]]);
    const placed = await place('alice', 'pm_card_visa');
    const cancel = await graphql('bob', 'mutation($id: ID!) { cancelOrder(id: $id) { id } }', { id: placed.id });
    expect(cancel.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await settled('alice', placed.id);
  });

  it('sells exactly the stock under 50 concurrent orders: 5 confirmed, 45 compensated, no payment without an order', async () => {
    expect((await stockOf(DESK)).stock).toBe(5);
    const users: User[] = ['alice', 'bob', 'admin'];
    // As a client would: a placement the gateway answers SERVICE_UNAVAILABLE (on a busy machine, 50
    // at once can outlast the gateway's 5 s timeout, and its breaker then opens) is sent again
    // with its idempotency key, which must not make a second order.
    const placed = await Promise.all(
      Array.from({ length: 50 }, async (_, index) => {
        const as = users[index % users.length] ?? 'alice';
        const variables = { key: randomUUID(), p: DESK };
        const place = () => graphql<{ placeOrder: { id: string } }>(as, 'mutation($key: String!, $p: ID!) { placeOrder(input: { paymentMethod: "pm_card_visa", lines: [{ productId: $p, quantity: 1 }] }, idempotencyKey: $key) { id } }', variables);
        const answer = await until('placeOrder', place, (current) => current.errors?.[0]?.extensions?.code !== 'SERVICE_UNAVAILABLE', 60_000);
        if (!answer.data) throw new Error(`GraphQL errors: ${JSON.stringify(answer.errors)}`);
        return { as, id: answer.data.placeOrder.id };
      }),
    );
    expect(new Set(placed.map((order) => order.id)).size).toBe(50);
    expect(await inDatabase('orders', 'select id from orders where id = any($1::uuid[])', [placed.map((order) => order.id)])).toHaveLength(50);
    const orders = await Promise.all(placed.map(({ as, id }) => settled(as, id, 60_000)));
    const confirmed = orders.filter((order) => order.status === 'CONFIRMED');
    // On a failure, say how the others ended: status, reason and the saga as the order shows it.
    const others = JSON.stringify(orders.filter((order) => order.status !== 'CONFIRMED' && order.status !== 'CANCELLED'));
    expect(confirmed, others).toHaveLength(5);
    expect(orders.filter((order) => order.status === 'CANCELLED'), others).toHaveLength(45);
    expect((await stockOf(DESK)).stock).toBe(0);
    const captured = await inDatabase<{ order_id: string }>('payments', "select order_id from payments where status = 'CAPTURED' and order_id = any($1::uuid[])", [placed.map((order) => order.id)]);
    expect(captured.map((row) => row.order_id).sort()).toEqual(confirmed.map((order) => order.id).sort());
  }, 120_000);

  it('lets an admin list sagas by status, each with its own steps and runtime status', async () => {
    type Listed = { status: string; runtimeStatus: string | null; currentStep: string | null; steps: { name: string; status: string; attempts: number }[] };
    const fields = 'status runtimeStatus currentStep steps { name status attempts }';
    const { sagas } = await ok<{ sagas: { nodes: (Listed & { order: { id: string } })[]; hasNextPage: boolean } }>('admin', `{ sagas(status: COMPENSATED, first: 5) { nodes { ${fields} order { id } } hasNextPage } }`);
    expect(sagas.nodes.length).toBeGreaterThan(1);
    expect(sagas.nodes.every((saga) => saga.status === 'COMPENSATED')).toBe(true);
    // The page reads every saga's steps and workflow state at once: each must still be its own.
    for (const { order, ...listed } of sagas.nodes) {
      const alone = await ok<{ order: { saga: Listed } }>('admin', `query($id: ID!) { order(id: $id) { saga { ${fields} } } }`, { id: order.id });
      expect(listed).toEqual(alone.order.saga);
      expect(listed.steps.map((step) => step.name)).toContain('cancel-order');
    }
    const customer = await graphql('alice', '{ sagas { nodes { status } } }');
    expect(customer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('the CLI demo', () => {
  it('signs in, orders with each given payment method and prints the saga steps as they happen', async () => {
    const demo = fileURLToPath(new URL('../../packages/cli/src/demo.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [demo, '--gateway', agora.system.gatewayUrl, '--issuer', agora.system.issuer, '--user', 'bob', '--methods', 'pm_card_visa,pm_card_chargeDeclined'], {
      timeout: 60_000,
    });
    expect(stdout).toMatch(/bob buys 1 × Wireless mouse with pm_card_visa/);
    expect(stdout).toMatch(/→ charge-payment\s+SUCCEEDED/);
    expect(stdout).toMatch(/⇒ CONFIRMED; saga COMPLETED/);
    expect(stdout).toMatch(/↩ cancel-order\s+SUCCEEDED/);
    expect(stdout).toMatch(/⇒ CANCELLED \(charge-payment: .*\); saga COMPLETED/);
  }, 90_000);
});
