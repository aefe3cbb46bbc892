import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '@agora/testing';
import { parseOpenMetrics, sampleValue } from './saga-openmetrics.ts';
import { ORDER_FIELDS, startSagaSystem, until, type OrderView, type SagaSystem, type User } from './saga-support.ts';

// The OrderSaga's paths beyond the happy one, end to end through the gateway: a payment
// confirmation that never comes, a charge that never answers, a flaky card, an admin's retry and
// compensation, a compensation the provider refuses (escalation), and a provider outage behind
// its breaker. Each asserts the final state in all four databases and the events written.
//
// Short settings: the simulated provider never confirms on its own (SIMULATED_PROVIDER_CONFIRMATION
// manual), a step has 5 s, a confirmation 4 s; a provider call may hang for 8 s, longer than a
// step, so a charge that never answers ends by the saga's step timeout.

const STEP_TIMEOUT_SECONDS = 5;
const CONFIRMATION_TIMEOUT_SECONDS = 4;
const BREAKER_RESET_MS = 2_000;

const WEBCAM = '7c0a1000-0000-4000-8000-000000000005';
const LAMP = '7c0a1000-0000-4000-8000-000000000009';
const NOTEBOOK = '7c0a1000-0000-4000-8000-000000000010';
const PEN = '7c0a1000-0000-4000-8000-000000000011';
const CABLE = '7c0a1000-0000-4000-8000-000000000014';
const MOUSEPAD = '7c0a1000-0000-4000-8000-000000000016';

let agora: SagaSystem;

beforeAll(async () => {
  agora = await startSagaSystem({
    SIMULATED_PROVIDER_CONFIRMATION: 'manual',
    PAYMENT_CONFIRMATION_TIMEOUT_SECONDS: String(CONFIRMATION_TIMEOUT_SECONDS),
    SAGA_STEP_TIMEOUT_SECONDS: String(STEP_TIMEOUT_SECONDS),
    PAYMENT_PROVIDER_TIMEOUT_MS: '8000',
    PAYMENT_BREAKER_VOLUME_THRESHOLD: '5',
    PAYMENT_BREAKER_ERROR_THRESHOLD_PERCENTAGE: '50',
    PAYMENT_BREAKER_RESET_TIMEOUT_MS: String(BREAKER_RESET_MS),
    PAYMENT_BREAKER_ROLLING_WINDOW_MS: '10000',
    SAGA_RECOVERY_INTERVAL_SECONDS: '1',
  });
}, 120_000);

afterAll(async () => {
  await agora?.stop();
});

const stepsOf = (order: OrderView) => Object.fromEntries(order.saga.steps.map((step) => [step.name, step.status]));

/** Everything the four services hold about an order, and the events they wrote. */
async function recordsOf(orderId: string) {
  const [orderEvents, payments, paymentEvents, charges, reservations] = await Promise.all([
    agora.query<{ type: string; data: Record<string, unknown> }>('orders', 'select type, data from outbox_events where subject = $1 order by created_at, id', [orderId]),
    agora.query<{ status: string; status_reason: string | null }>('payments', 'select status, status_reason from payments where order_id = $1', [orderId]),
    agora.query<{ type: string }>('payments', 'select o.type from outbox_events o join payments p on o.subject = p.id::text where p.order_id = $1 order by o.created_at, o.id', [orderId]),
    agora.query<{ status: string; attempts: number }>('payments', "select status, attempts from simulated_provider_charges where idempotency_key = 'order-' || $1 || '-charge'", [orderId]),
    agora.query<{ status: string; quantity: number }>('inventory', 'select status, quantity from reservations where order_id = $1', [orderId]),
  ]);
  return { orderEvents: orderEvents.map((event) => event.type), orderEventData: orderEvents, payments, paymentEvents: paymentEvents.map((event) => event.type), charges, reservations };
}

/** The kinds of the notifications the users service made for an order, once they include `expected`. */
async function notificationsOf(orderId: string, expected: string[]): Promise<string[]> {
  const rows = await until(
    `notifications of ${orderId}`,
    () => agora.query<{ kind: string }>('users', 'select kind from notifications where order_id = $1 order by created_at', [orderId]),
    (found) => expected.every((kind) => found.some((row) => row.kind === kind)),
  );
  return rows.map((row) => row.kind);
}

const waitingForConfirmation = (as: User, id: string) => agora.orderWhen(as, id, (order) => order.saga.currentStep === 'await-payment-confirmation', 15_000);

describe('saga paths', () => {
  it('compensates when the payment confirmation never comes: the timer fires, the payment is cancelled, the stock released', async () => {
    const before = await agora.stockOf(WEBCAM);
    const placed = await agora.buy('alice', 'pm_card_threeDSecureRequired', [[WEBCAM, 2]]);
    await waitingForConfirmation('alice', placed.id);
    const order = await agora.settled('alice', placed.id, 30_000);
    expect(order.status).toBe('CANCELLED');
    expect(order.saga.status).toBe('COMPENSATED');
    expect(order.statusReason).toMatch(new RegExp(`no payment confirmation within ${CONFIRMATION_TIMEOUT_SECONDS} s`));
    expect(stepsOf(order)).toMatchObject({ 'charge-payment': 'SUCCEEDED', 'cancel-payment': 'SUCCEEDED', 'release-stock': 'SUCCEEDED', 'cancel-order': 'SUCCEEDED' });
    expect(await agora.stockOf(WEBCAM)).toBe(before);

    const records = await recordsOf(order.id);
    expect(records.payments.map((row) => row.status)).toEqual(['CANCELED']);
    expect(records.payments[0]?.status_reason).toMatch(/no payment confirmation/);
    expect(records.charges).toEqual([{ status: 'canceled', attempts: 1 }]);
    expect(records.paymentEvents).toEqual([]);
    expect(records.reservations).toEqual([{ status: 'RELEASED', quantity: 2 }]);
    expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.cancelled.v1']);
    expect(await notificationsOf(order.id, ['ORDER_PLACED', 'ORDER_CANCELLED'])).not.toContain('ORDER_CONFIRMED');
  }, 45_000);

  it('retries a flaky card until the provider answers, then confirms: one capture, stock committed', async () => {
    const before = await agora.stockOf(LAMP);
    const order = await agora.settled('bob', (await agora.buy('bob', 'pm_card_flaky', [[LAMP, 1]])).id);
    expect(order.status).toBe('CONFIRMED');
    expect(order.saga.status).toBe('COMPLETED');
    // Retried below the step (the sidecar's resiliency policy) or by the step's own policy.
    expect(order.saga.steps.find((step) => step.name === 'charge-payment')).toMatchObject({ status: 'SUCCEEDED' });
    expect(order.saga.steps.some((step) => step.compensation)).toBe(false);
    expect(await agora.stockOf(LAMP)).toBe(before - 1);

    const records = await recordsOf(order.id);
    expect(records.payments).toEqual([{ status: 'CAPTURED', status_reason: null }]);
    // Two transient failures, then the capture: the same idempotency key throughout.
    expect(records.charges).toEqual([{ status: 'succeeded', attempts: 3 }]);
    expect(records.paymentEvents).toEqual(['agora.payment.succeeded.v1']);
    expect(records.reservations).toEqual([{ status: 'COMMITTED', quantity: 1 }]);
    expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.confirmed.v1']);
    await notificationsOf(order.id, ['ORDER_PLACED', 'PAYMENT_SUCCEEDED', 'ORDER_CONFIRMED']);
  }, 45_000);

  it('compensates a charge that never answers when the step times out: the late charge is cancelled at the provider', async () => {
    const before = await agora.stockOf(NOTEBOOK);
    const placed = await agora.buy('alice', 'pm_card_timeout', [[NOTEBOOK, 3]]);
    const order = await agora.settled('alice', placed.id, 30_000);
    expect(order.status).toBe('CANCELLED');
    expect(order.saga.status).toBe('COMPENSATED');
    expect(order.statusReason).toMatch(new RegExp(`charge-payment did not finish within \\d+(\\.\\d+)? s`));
    expect(stepsOf(order)).toMatchObject({ 'cancel-payment': 'SUCCEEDED', 'release-stock': 'SUCCEEDED', 'cancel-order': 'SUCCEEDED' });
    expect(await agora.stockOf(NOTEBOOK)).toBe(before);

    const records = await recordsOf(order.id);
    expect(records.payments.map((row) => row.status)).toEqual(['CANCELED']);
    expect(records.payments[0]?.status_reason).toMatch(/did not finish/);
    // The provider's record is cancelled, so the hanging charge can never capture money later. The
    // sidecar's invocation retry may have sent the charge again before the step timed out: one
    // record whatever the attempts, thanks to the idempotency key.
    expect(records.charges).toEqual([{ status: 'canceled', attempts: expect.any(Number) as number }]);
    expect(records.paymentEvents).toEqual([]);
    expect(records.reservations).toEqual([{ status: 'RELEASED', quantity: 3 }]);
    expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.cancelled.v1']);
    await notificationsOf(order.id, ['ORDER_PLACED', 'ORDER_CANCELLED']);
  }, 45_000);

  it('lets an admin compensate a running saga (waiting for 3-D Secure), and refuses a customer', async () => {
    const before = await agora.stockOf(PEN);
    const placed = await agora.buy('bob', 'pm_card_threeDSecureRequired', [[PEN, 1]]);
    await waitingForConfirmation('bob', placed.id);
    const mutation = 'mutation($id: ID!) { compensateSaga(orderId: $id) { status order { id } } }';
    const customer = await agora.graphql('bob', mutation, { id: placed.id });
    expect(customer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await agora.order('bob', placed.id)).status).toBe('PENDING');

    await agora.ok('admin', mutation, { id: placed.id });
    const order = await agora.settled('bob', placed.id);
    expect(order.status).toBe('CANCELLED');
    expect(order.statusReason).toBe('cancel: cancelled on request');
    expect(stepsOf(order)).toMatchObject({ 'cancel-payment': 'SUCCEEDED', 'release-stock': 'SUCCEEDED', 'cancel-order': 'SUCCEEDED' });
    expect(await agora.stockOf(PEN)).toBe(before);
    const records = await recordsOf(order.id);
    expect(records.payments).toMatchObject([{ status: 'CANCELED' }]);
    expect(records.charges).toEqual([{ status: 'canceled', attempts: 1 }]);
    expect(records.reservations).toEqual([{ status: 'RELEASED', quantity: 1 }]);
    expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.cancelled.v1']);

    // A finished saga is not compensated again.
    const again = await agora.graphql('admin', mutation, { id: placed.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  }, 45_000);

  it('escalates when the provider refuses to cancel the payment: NEEDS_ATTENTION and the alert event; an admin retries it to CONFIRMED', async () => {
    const before = await agora.stockOf(CABLE);
    const placed = await agora.buy('alice', 'pm_card_threeDSecureCancelRefused', [[CABLE, 2]]);
    const stuck = await agora.orderWhen('alice', placed.id, (order) => order.status === 'NEEDS_ATTENTION', 40_000);
    expect(stuck.saga.status).toBe('NEEDS_ATTENTION');
    expect(stuck.statusReason).toMatch(/^cancel-payment kept failing: .*refused/);
    const cancelPayment = stuck.saga.steps.find((step) => step.name === 'cancel-payment');
    expect(cancelPayment?.status).toBe('REJECTED');
    expect(cancelPayment?.error).toMatch(/cannot be canceled/);
    expect(stepsOf(stuck)).toMatchObject({ escalate: 'SUCCEEDED' });
    // Compensation stopped at the failing step: the stock stays held, the order is not cancelled.
    expect(stepsOf(stuck)['release-stock']).toBeUndefined();
    let records = await recordsOf(placed.id);
    expect(records.payments).toMatchObject([{ status: 'PENDING_CONFIRMATION' }]);
    expect(records.charges).toEqual([{ status: 'requires_confirmation', attempts: 1 }]);
    expect(records.reservations).toEqual([{ status: 'RESERVED', quantity: 2 }]);
    expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.needs-attention.v1']);
    expect(records.orderEventData[1]?.data).toMatchObject({ orderId: placed.id, step: 'cancel-payment' });
    await notificationsOf(placed.id, ['ORDER_NEEDS_ATTENTION']);

    const retry = 'mutation($id: ID!) { retrySaga(orderId: $id) { status order { id status } } }';
    const customer = await agora.graphql('alice', retry, { id: placed.id });
    expect(customer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    // The operator settles the payment at the provider (the customer passed the challenge after
    // all), then retries: every participant answers its first result, and the order goes through.
    const confirmation = await fetch(new URL(`/simulated-provider/orders/${placed.id}/confirmation`, agora.appUrl('payments')), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await agora.token('admin')}` },
      body: JSON.stringify({ outcome: 'succeeded' }),
    });
    expect({ status: confirmation.status, body: await confirmation.json() }).toMatchObject({ status: 200, body: { status: 'succeeded' } });
    await until('the payment captured', async () => (await recordsOf(placed.id)).payments, (rows) => rows[0]?.status === 'CAPTURED');
    const retried = await agora.ok<{ retrySaga: { status: string; order: { status: string } } }>('admin', retry, { id: placed.id });
    expect(retried.retrySaga.order.status).toBe('PENDING');
    const order = await agora.settled('alice', placed.id);
    expect(order.status).toBe('CONFIRMED');
    expect(order.saga.status).toBe('COMPLETED');
    expect(await agora.stockOf(CABLE)).toBe(before - 2);
    records = await recordsOf(placed.id);
    expect(records.payments).toMatchObject([{ status: 'CAPTURED' }]);
    expect(records.charges).toEqual([{ status: 'succeeded', attempts: 1 }]);
    expect(records.paymentEvents).toEqual(['agora.payment.succeeded.v1']);
    expect(records.reservations).toEqual([{ status: 'COMMITTED', quantity: 2 }]);
    expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.needs-attention.v1', 'agora.order.confirmed.v1']);

    // A saga that completed is not retried.
    const again = await agora.graphql('admin', retry, { id: placed.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  }, 90_000);

  it('fails charges fast while the provider is down (breaker open), compensates those orders, and confirms again once the breaker half-opens', async () => {
    const metrics = async () => parseOpenMetrics(await (await fetch(new URL('/metrics', agora.appUrl('payments')))).text());
    const breaker = async (state: string) => sampleValue(await metrics(), 'agora_circuit_breaker_state', { breaker: 'payment-provider', state });
    await until('the breaker closed', () => breaker('closed'), (value) => value === 1, 15_000);
    const before = await agora.stockOf(MOUSEPAD);
    // The provider goes down: its own records become unreachable, so every call to it fails.
    const down = async (isDown: boolean) =>
      agora.query('payments', isDown ? 'alter table simulated_provider_charges rename to simulated_provider_charges_down' : 'alter table simulated_provider_charges_down rename to simulated_provider_charges');
    await down(true);
    let placed: OrderView[];
    try {
      const started = performance.now();
      placed = await Promise.all([1, 2, 3].map(() => agora.buy('bob', 'pm_card_visa', [[MOUSEPAD, 1]])));
      await until('the breaker open', () => breaker('open'), (value) => value === 1, 15_000);
      // Each charge step gives up within its step timeout (no call waits for the provider's own
      // timeout), and the saga moves on to compensation.
      await Promise.all(
        placed.map((order) => agora.orderWhen('bob', order.id, (view) => view.saga.steps.some((step) => step.name === 'charge-payment' && step.status === 'FAILED') && view.saga.currentStep !== 'charge-payment', 30_000)),
      );
      expect(performance.now() - started).toBeLessThan((STEP_TIMEOUT_SECONDS + 5) * 1000);
      // Calls were refused by the open breaker without reaching the provider.
      expect(sampleValue(await metrics(), 'agora_circuit_breaker_window_calls', { breaker: 'payment-provider', result: 'rejects' })).toBeGreaterThan(0);
    } finally {
      await down(false);
    }
    // Compensation needs the provider too (to spend the charge's key): it succeeds once the breaker lets a trial call through.
    const orders = await Promise.all(placed.map((order) => agora.settled('bob', order.id, 90_000)));
    for (const order of orders) {
      expect(order.status).toBe('CANCELLED');
      expect(order.statusReason).toMatch(/^charge-payment: /);
      // The customer is told that a service did not answer, not the provider's SQL error or Dapr's codes; an admin reads the step's error.
      expect(order.statusReason).toMatch(/^charge-payment: (a service it needs did not answer|charge-payment did not finish within)/);
      expect(order.saga.steps.find((step) => step.name === 'charge-payment')?.error).toBe('a service it needs did not answer');
      const asAdmin = await agora.ok<{ order: OrderView }>('admin', `query($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`, { id: order.id });
      expect(asAdmin.order.saga.steps.find((step) => step.name === 'charge-payment')?.error).not.toBe('a service it needs did not answer');
      expect(stepsOf(order)).toMatchObject({ 'charge-payment': 'FAILED', 'cancel-payment': 'SUCCEEDED', 'release-stock': 'SUCCEEDED', 'cancel-order': 'SUCCEEDED' });
      const records = await recordsOf(order.id);
      expect(records.payments.map((row) => row.status)).toEqual(['CANCELED']);
      expect(records.charges.map((row) => row.status)).toEqual(['canceled']);
      expect(records.paymentEvents).toEqual([]);
      expect(records.reservations).toEqual([{ status: 'RELEASED', quantity: 1 }]);
      expect(records.orderEvents).toEqual(['agora.order.placed.v1', 'agora.order.cancelled.v1']);
    }
    expect(await agora.stockOf(MOUSEPAD)).toBe(before);
    expect(await breaker('closed')).toBe(1);
    const transitions = await metrics();
    expect(sampleValue(transitions, 'agora_circuit_breaker_transitions_total', { breaker: 'payment-provider', state: 'open' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(transitions, 'agora_circuit_breaker_transitions_total', { breaker: 'payment-provider', state: 'half_open' })).toBeGreaterThanOrEqual(1);

    // Recovered: the next order goes through.
    const recovered = await agora.settled('bob', (await agora.buy('bob', 'pm_card_visa', [[MOUSEPAD, 1]])).id);
    expect(recovered.status).toBe('CONFIRMED');
    expect(await agora.stockOf(MOUSEPAD)).toBe(before - 1);
  }, 150_000);

  it('counts every saga by outcome on the orders /metrics: started, completed, compensated, failed', async () => {
    const response = await fetch(new URL('/metrics', agora.appUrl('orders')));
    expect(response.headers.get('content-type')).toContain('application/openmetrics-text');
    const families = parseOpenMetrics(await response.text());
    // The sagas of this file: timer expiry, flaky, step timeout, admin compensation, escalation and
    // its retry, three during the outage and one after it.
    expect(families.get('agora_saga_started')?.type).toBe('counter');
    expect(sampleValue(families, 'agora_saga_started_total')).toBe(10);
    expect(sampleValue(families, 'agora_saga_completed_total')).toBe(3);
    expect(sampleValue(families, 'agora_saga_compensated_total')).toBe(6);
    expect(sampleValue(families, 'agora_saga_failed_total')).toBe(1);
    expect(sampleValue(families, 'agora_saga_duration_seconds_count', { outcome: 'compensated' })).toBe(6);
    expect(sampleValue(families, 'agora_saga_duration_seconds_count', { outcome: 'failed' })).toBe(1);
  });

  // After the metrics test, which counts this file's sagas.
  it('starts the saga of an order placeOrder committed but never scheduled (a crash between the two)', async () => {
    const before = await agora.stockOf(CABLE);
    const [product] = await agora.query<{ price_amount: number; currency: string }>('inventory', 'select price_amount, currency from products where id = $1', [CABLE]);
    if (!product) throw new Error('no such product');
    // What a crash right after placeOrder's commit leaves: the order and its lines, and no workflow.
    const id = randomUUID();
    await agora.query(
      'orders',
      `with placed as (
         insert into orders (id, customer_id, status, total_amount, currency, payment_method, version, created_at, updated_at)
         values ($1, $2, 'PENDING', $3 * 2, $4, 'pm_card_visa', 1, now(), now()) returning id)
       insert into order_lines (id, order_id, product_id, quantity, unit_price_amount) select $5, id, $6, 2, $3 from placed`,
      [id, devUserIds.alice, product.price_amount, product.currency, randomUUID(), CABLE],
    );
    const order = await agora.settled('alice', id, 30_000);
    expect(order.status).toBe('CONFIRMED');
    expect(stepsOf(order)).toMatchObject({ 'charge-payment': 'SUCCEEDED', 'confirm-order': 'SUCCEEDED', 'commit-stock': 'SUCCEEDED' });
    expect(await agora.stockOf(CABLE)).toBe(before - 2);
    const records = await recordsOf(id);
    expect(records.charges).toEqual([{ status: 'succeeded', attempts: 1 }]);
    expect(records.reservations).toEqual([{ status: 'COMMITTED', quantity: 2 }]);
  }, 45_000);

  it('places the order of an idempotency key whose first request died after claiming it, under the claimed id', async () => {
    // What a crash between claiming the key and creating the order leaves: the key's record in the
    // state store (written here through the orders sidecar, as placeOrder writes it), no order.
    const key = randomUUID();
    const orderId = randomUUID();
    const lines = [{ productId: CABLE, quantity: 1 }];
    const fingerprint = createHash('sha256').update(JSON.stringify({ lines, paymentMethod: 'pm_card_visa' })).digest('hex');
    const sidecar = agora.system.apps.find((app) => app.id === 'orders')?.sidecarUrl ?? '';
    const saved = await fetch(new URL('/v1.0/state/statestore', sidecar), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ key: `placeorder-${devUserIds.alice}-${key}`, value: { fingerprint, orderId } }]),
    });
    expect(saved.status).toBe(204);
    const place = () =>
      agora.ok<{ placeOrder: { id: string } }>('alice', 'mutation($key: String!, $p: ID!) { placeOrder(input: { paymentMethod: "pm_card_visa", lines: [{ productId: $p, quantity: 1 }] }, idempotencyKey: $key) { id } }', { key, p: CABLE });
    // The retry creates the order the first request could not; a second retry answers the same one.
    expect((await place()).placeOrder.id).toBe(orderId);
    expect((await place()).placeOrder.id).toBe(orderId);
    expect((await agora.settled('alice', orderId, 30_000)).status).toBe('CONFIRMED');
    expect(await agora.query('orders', 'select id from orders where id = $1', [orderId])).toHaveLength(1);
  }, 45_000);

  // Last: it stops inventory. Regression: the failed price quote reached clients as INTERNAL_SERVER_ERROR "Unable to transform response from server".
  it('answers SERVICE_UNAVAILABLE while inventory is down, creating nothing, and places the same request once it is back', async () => {
    const key = randomUUID();
    const place = () =>
      agora.graphql<{ placeOrder: { id: string } }>('alice', 'mutation($key: String!, $p: ID!) { placeOrder(input: { paymentMethod: "pm_card_visa", lines: [{ productId: $p, quantity: 1 }] }, idempotencyKey: $key) { id } }', { key, p: CABLE });
    const ordersBefore = await agora.query<{ count: string }>('orders', 'select count(*) from orders');
    await agora.system.kill('inventory', 'SIGKILL');
    try {
      const refused = await place();
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { service: 'inventory' } });
      expect(refused.errors?.[0]?.message).toMatch(/^inventory is not answering/);
      const cart = await agora.graphql('alice', 'mutation($p: ID!) { addToCart(productId: $p, quantity: 1) { itemCount } }', { p: CABLE });
      expect(cart.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      // Inventory's own fields: the gateway's sidecar gets no answer, and the gateway says so.
      const catalog = await agora.graphql('alice', '{ products(first: 1) { nodes { id } } }');
      expect(catalog.errors?.[0]).toMatchObject({ message: 'inventory is not answering; try again shortly', extensions: { code: 'SERVICE_UNAVAILABLE', details: { service: 'inventory' } } });
      expect(await agora.query<{ count: string }>('orders', 'select count(*) from orders')).toEqual(ordersBefore);
    } finally {
      await agora.system.restart('inventory');
    }
    const placed = await until('placeOrder once inventory is back', place, (answer) => answer.data !== undefined && answer.data !== null, 20_000);
    expect((await agora.settled('alice', placed.data!.placeOrder.id, 30_000)).status).toBe('CONFIRMED');
  }, 60_000);
});
