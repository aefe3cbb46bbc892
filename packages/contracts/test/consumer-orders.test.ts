import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { MatchersV3 } from '@pact-foundation/pact';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOUDEVENT_CONTENT_TYPE, registerEventSubscriptions } from '@agora/events';
import { createInternalClient } from '@agora/internal-api';
import { createHttpServer, createLogger, openDatabase } from '@agora/service';
import { createTestDatabase, devUserIds, type TestDatabase } from '@agora/testing';
import type { InventoryRouter } from '../../../subgraphs/inventory/src/internal/router.ts';
import { database as ordersDatabase } from '../../../subgraphs/orders/src/database.ts';
import { paymentSubscriptions, SAGA_EVENTS_CONSUMER } from '../../../subgraphs/orders/src/events/payment-subscriptions.ts';
import { Order } from '../../../subgraphs/orders/src/modules/order/order.entity.ts';
import { createActivities } from '../../../subgraphs/orders/src/saga/activities.ts';
import { Activity, SagaEvent, type Outcome } from '../../../subgraphs/orders/src/saga/contract.ts';
import { createOrder } from '../../../subgraphs/orders/src/saga/order-placement.ts';
import type { PaymentsRouter } from '../../../subgraphs/payments/src/internal/router.ts';
import { deliveryOf, eventMetadata } from '../src/cloud-events.ts';
import { consumerContract } from '../src/pact-files.ts';
import { InventoryState, PaymentsState } from '../src/states.ts';
import { CONSUMER_TOKEN, mutation, query, refusal, result, statusOf, uuidListPattern } from '../src/trpc-http.ts';

// The orders service as a consumer: the OrderSaga's calls to inventory and payments, made by the
// real placement code and saga activities through createInternalClient against the Pact mock
// server, and the payment events its saga consumer reads, posted to its real subscription route.

const { boolean, integer, regex, string, uuid } = MatchersV3;

const KEYBOARD = 'c0de1000-0000-4000-8000-000000000001';
const MOUSE = 'c0de1000-0000-4000-8000-000000000002';
const UNKNOWN_PRODUCT = 'c0de1000-0000-4000-8000-00000000dead';
const ALICE = devUserIds.alice;
/** One order id per interaction, so that the provider's idempotency never answers one with another's result. */
const order = (n: number): string => `c0de2000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const currency = regex('^[A-Z]{3}$', 'EUR');

const silent = createLogger('orders-contract', 'silent');
const inventoryContract = consumerContract('orders', 'inventory');
const paymentsContract = consumerContract('orders', 'payments');
let database: TestDatabase;
let orm: MikroORM;

beforeAll(async () => {
  database = await createTestDatabase('contracts_orders');
  orm = await openDatabase(ordersDatabase, database.url, { migrate: true, seed: false, logger: silent });
});
afterAll(async () => {
  await orm?.close();
  await database?.drop();
});

/** The participants' clients as the saga builds them, pointed at the mock server instead of the sidecar. */
function participantsAt(mockServerUrl: string) {
  const token = async () => CONSUMER_TOKEN;
  return {
    inventory: createInternalClient<InventoryRouter>({ url: `${mockServerUrl}/trpc`, token }),
    payments: createInternalClient<PaymentsRouter>({ url: `${mockServerUrl}/trpc`, token }),
  };
}

type Activities = ReturnType<typeof createActivities>;

/** Runs one of the saga's activities, as the workflow runtime would, with the participants at the mock server. */
function activity(mockServerUrl: string, name: string, input: Record<string, unknown>): Promise<Outcome<unknown>> {
  const activities: Activities = createActivities({ orm, ...participantsAt(mockServerUrl), logger: silent });
  const run = activities[name];
  if (!run) throw new Error(`no activity ${name}`);
  return run({} as Parameters<Activities[string]>[0], input) as Promise<Outcome<unknown>>;
}

const rejected = (code: string) => ({ ok: false, rejected: true, code });

describe('orders → inventory', () => {
  const { pact } = inventoryContract;

  it('prices a new order from the quote of its products', async () => {
    const interaction = pact
      .addInteraction()
      .given(InventoryState.PRODUCT_AVAILABLE, { productId: KEYBOARD, available: 10 })
      .given(InventoryState.PRODUCT_AVAILABLE, { productId: MOUSE, available: 10 })
      .uponReceiving('a quote of two products');
    await query(interaction, 'quote', { productIds: [KEYBOARD, MOUSE] }, uuidListPattern('productIds'))
      .willRespondWith(
        200,
        result({
          products: [
            { productId: KEYBOARD, unitPrice: { amount: integer(8900), currency }, available: integer(10) },
            { productId: MOUSE, unitPrice: { amount: integer(3900), currency }, available: integer(10) },
          ],
        }),
      )
      .executeTest(async (server) => {
        const orderId = randomUUID();
        const lines = [
          { productId: KEYBOARD, quantity: 1 },
          { productId: MOUSE, quantity: 2 },
        ];
        const placed = await createOrder({ orm, inventory: participantsAt(server.url).inventory }, orderId, ALICE, lines, 'pm_card_visa');
        expect(placed).toMatchObject({ id: orderId, status: 'PENDING', totalAmount: 8900 + 2 * 3900, currency: 'EUR' });
        const stored = await orm.em.fork().findOneOrFail(Order, { id: orderId }, { populate: ['lines'] });
        expect(stored.lines.getItems().map((line) => [line.productId, line.unitPriceAmount])).toEqual(
          expect.arrayContaining([
            [KEYBOARD, 8900],
            [MOUSE, 3900],
          ]),
        );
      });
  });

  it('tells the customer when a product in the cart no longer exists (NOT_FOUND from quote)', async () => {
    const interaction = pact.addInteraction().given(InventoryState.NO_PRODUCT, { productId: UNKNOWN_PRODUCT }).uponReceiving('a quote naming an unknown product');
    await query(interaction, 'quote', { productIds: [UNKNOWN_PRODUCT] }, uuidListPattern('productIds'))
      .willRespondWith(statusOf('NOT_FOUND'), refusal('NOT_FOUND', `Unknown products: ${UNKNOWN_PRODUCT}`))
      .executeTest(async (server) => {
        const placing = createOrder({ orm, inventory: participantsAt(server.url).inventory }, randomUUID(), ALICE, [{ productId: UNKNOWN_PRODUCT, quantity: 1 }], 'pm_card_visa');
        await expect(placing).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      });
  });

  it('reserves a line of the order and keeps the reservation id', async () => {
    const orderId = order(1);
    const interaction = pact.addInteraction().given(InventoryState.PRODUCT_AVAILABLE, { productId: KEYBOARD, available: 10 }).uponReceiving('a reservation of an order line in stock');
    await mutation(interaction, 'reserve', { orderId: uuid(orderId), productId: uuid(KEYBOARD), quantity: integer(2) })
      .willRespondWith(200, result({ reservationId: uuid('c0de3000-0000-4000-8000-000000000001') }))
      .executeTest(async (server) => {
        const outcome = await activity(server.url, Activity.RESERVE_STOCK, { orderId, step: `reserve-stock:${KEYBOARD}`, productId: KEYBOARD, quantity: 2 });
        expect(outcome).toEqual({ ok: true, value: 'c0de3000-0000-4000-8000-000000000001' });
      });
  });

  it('compensates when a line is out of stock (OUT_OF_STOCK from reserve)', async () => {
    const orderId = order(2);
    const interaction = pact.addInteraction().given(InventoryState.PRODUCT_AVAILABLE, { productId: KEYBOARD, available: 1 }).uponReceiving('a reservation of more units than available');
    await mutation(interaction, 'reserve', { orderId: uuid(orderId), productId: uuid(KEYBOARD), quantity: integer(2) })
      .willRespondWith(statusOf('OUT_OF_STOCK'), refusal('OUT_OF_STOCK', `Only 1 of product ${KEYBOARD} available, 2 requested`))
      .executeTest(async (server) => {
        const outcome = await activity(server.url, Activity.RESERVE_STOCK, { orderId, step: `reserve-stock:${KEYBOARD}`, productId: KEYBOARD, quantity: 2 });
        expect(outcome).toMatchObject(rejected('OUT_OF_STOCK'));
      });
  });

  it('compensates when a product has disappeared (NOT_FOUND from reserve)', async () => {
    const orderId = order(3);
    const interaction = pact.addInteraction().given(InventoryState.NO_PRODUCT, { productId: UNKNOWN_PRODUCT }).uponReceiving('a reservation of an unknown product');
    await mutation(interaction, 'reserve', { orderId: uuid(orderId), productId: uuid(UNKNOWN_PRODUCT), quantity: integer(1) })
      .willRespondWith(statusOf('NOT_FOUND'), refusal('NOT_FOUND', `Product ${UNKNOWN_PRODUCT} was not found`))
      .executeTest(async (server) => {
        const outcome = await activity(server.url, Activity.RESERVE_STOCK, { orderId, step: `reserve-stock:${UNKNOWN_PRODUCT}`, productId: UNKNOWN_PRODUCT, quantity: 1 });
        expect(outcome).toMatchObject(rejected('NOT_FOUND'));
      });
  });

  it("commits the order's reservations once the order is confirmed", async () => {
    const orderId = order(4);
    const interaction = pact.addInteraction().given(InventoryState.ORDER_RESERVED, { orderId, productId: KEYBOARD, quantity: 2 }).uponReceiving('a commit of an order holding reservations');
    await mutation(interaction, 'commit', { orderId: uuid(orderId) })
      .willRespondWith(200, result({ committed: integer(1) }))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.COMMIT_STOCK, { orderId, step: 'commit-stock' })).toEqual({ ok: true, value: 1 });
      });
  });

  it('compensates when a reservation can no longer be committed (CONFLICT from commit)', async () => {
    const orderId = order(5);
    const interaction = pact.addInteraction().given(InventoryState.ORDER_RELEASED, { orderId, productId: KEYBOARD, quantity: 2 }).uponReceiving('a commit of an order whose reservation was released');
    await mutation(interaction, 'commit', { orderId: uuid(orderId) })
      .willRespondWith(statusOf('CONFLICT'), refusal('CONFLICT', `Order ${orderId} cannot be committed: ${KEYBOARD} is RELEASED`))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.COMMIT_STOCK, { orderId, step: 'commit-stock' })).toMatchObject(rejected('CONFLICT'));
      });
  });

  it('compensates when the order has no reservations to commit (NOT_FOUND from commit)', async () => {
    const orderId = order(6);
    const interaction = pact.addInteraction().given(InventoryState.ORDER_WITHOUT_RESERVATIONS, { orderId }).uponReceiving('a commit of an order without reservations');
    await mutation(interaction, 'commit', { orderId: uuid(orderId) })
      .willRespondWith(statusOf('NOT_FOUND'), refusal('NOT_FOUND', `Order ${orderId} has no reservations`))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.COMMIT_STOCK, { orderId, step: 'commit-stock' })).toMatchObject(rejected('NOT_FOUND'));
      });
  });

  it("releases the order's reservations when compensating", async () => {
    const orderId = order(7);
    const interaction = pact.addInteraction().given(InventoryState.ORDER_RESERVED, { orderId, productId: KEYBOARD, quantity: 2 }).uponReceiving('a release of an order holding reservations');
    await mutation(interaction, 'release', { orderId: uuid(orderId), reason: string('payment declined') })
      .willRespondWith(200, result({ released: integer(1) }))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.RELEASE_STOCK, { orderId, step: 'release-stock', reason: 'payment declined' })).toEqual({ ok: true, value: 1 });
      });
  });

  it('keeps pacts/orders-inventory.json current', () => inventoryContract.settle());
});

describe('orders → payments', () => {
  const { pact } = paymentsContract;
  const charge = (orderId: string, paymentMethod: string) => ({ orderId, userId: ALICE, amount: { amount: 16700, currency: 'EUR' }, paymentMethod });
  const chargeRequest = (orderId: string, paymentMethod: string) => ({ orderId: uuid(orderId), userId: string(ALICE), amount: { amount: integer(16700), currency }, paymentMethod });
  const chargeStep = (orderId: string, paymentMethod: string) => ({ ...charge(orderId, paymentMethod), step: 'charge-payment' });
  const PAYMENT = 'c0de4000-0000-4000-8000-000000000001';

  it('confirms the order on a captured charge', async () => {
    const orderId = order(11);
    const interaction = pact.addInteraction().given(PaymentsState.NO_PAYMENT, charge(orderId, 'pm_card_visa')).uponReceiving('a charge that is captured at once');
    await mutation(interaction, 'charge', chargeRequest(orderId, 'pm_card_visa'))
      .willRespondWith(200, result({ paymentId: uuid(PAYMENT), status: 'CAPTURED' }))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.CHARGE_PAYMENT, chargeStep(orderId, 'pm_card_visa'))).toEqual({ ok: true, value: { paymentId: PAYMENT, status: 'CAPTURED' } });
      });
  });

  it('waits for the confirmation of a charge that needs one (3-D Secure)', async () => {
    const orderId = order(12);
    const interaction = pact.addInteraction().given(PaymentsState.NO_PAYMENT, charge(orderId, 'pm_card_threeDSecureRequired')).uponReceiving('a charge that needs confirmation');
    await mutation(interaction, 'charge', chargeRequest(orderId, 'pm_card_threeDSecureRequired'))
      .willRespondWith(200, result({ paymentId: uuid(PAYMENT), status: 'PENDING_CONFIRMATION' }))
      .executeTest(async (server) => {
        const outcome = await activity(server.url, Activity.CHARGE_PAYMENT, chargeStep(orderId, 'pm_card_threeDSecureRequired'));
        expect(outcome).toEqual({ ok: true, value: { paymentId: PAYMENT, status: 'PENDING_CONFIRMATION' } });
      });
  });

  it('compensates when the card is declined (PAYMENT_DECLINED from charge)', async () => {
    const orderId = order(13);
    const interaction = pact.addInteraction().given(PaymentsState.NO_PAYMENT, charge(orderId, 'pm_card_chargeDeclined')).uponReceiving('a charge that is declined');
    await mutation(interaction, 'charge', chargeRequest(orderId, 'pm_card_chargeDeclined'))
      .willRespondWith(statusOf('PAYMENT_DECLINED'), refusal('PAYMENT_DECLINED', 'The payment was declined: card_declined'))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.CHARGE_PAYMENT, chargeStep(orderId, 'pm_card_chargeDeclined'))).toMatchObject(rejected('PAYMENT_DECLINED'));
      });
  });

  it('compensates when the payment was cancelled before a retried charge (CONFLICT from charge)', async () => {
    const orderId = order(14);
    const interaction = pact.addInteraction().given(PaymentsState.CANCELLED, charge(orderId, 'pm_card_threeDSecureRequired')).uponReceiving('a charge of an order whose payment was cancelled');
    await mutation(interaction, 'charge', chargeRequest(orderId, 'pm_card_threeDSecureRequired'))
      .willRespondWith(statusOf('CONFLICT'), refusal('CONFLICT', `The payment of order ${orderId} was canceled; it is not charged again`))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.CHARGE_PAYMENT, chargeStep(orderId, 'pm_card_threeDSecureRequired'))).toMatchObject(rejected('CONFLICT'));
      });
  });

  const cancellations = [
    { state: PaymentsState.AWAITING_CONFIRMATION, method: 'pm_card_threeDSecureRequired', description: 'a cancel of a payment waiting for confirmation', status: 'CANCELED', n: 15 },
    { state: PaymentsState.CAPTURED, method: 'pm_card_visa', description: 'a cancel of a captured payment', status: 'REFUNDED', n: 16 },
    { state: PaymentsState.NO_PAYMENT, method: 'pm_card_visa', description: 'a cancel of an order without a payment', status: 'NOTHING_TO_CANCEL', n: 17 },
  ] as const;
  it.each(cancellations)('compensates the payment: $description answers $status', async ({ state, method, description, status, n }) => {
    const orderId = order(n);
    const interaction = pact.addInteraction().given(state, charge(orderId, method)).uponReceiving(description);
    await mutation(interaction, 'cancel', { orderId: uuid(orderId), reason: string('stock could not be reserved') })
      .willRespondWith(200, result({ status }))
      .executeTest(async (server) => {
        expect(await activity(server.url, Activity.CANCEL_PAYMENT, { orderId, step: 'cancel-payment', reason: 'stock could not be reserved' })).toEqual({ ok: true, value: status });
      });
  });

  const confirmations = [
    { type: 'agora.payment.succeeded.v1', state: PaymentsState.CONFIRMED_LATER, method: 'pm_card_threeDSecureRequired', awaited: true, raises: [SagaEvent.PAYMENT_CONFIRMED], n: 18, data: {} },
    { type: 'agora.payment.failed.v1', state: PaymentsState.FAILED_LATER, method: 'pm_card_threeDSecureRequired', awaited: true, raises: [SagaEvent.PAYMENT_FAILED], n: 19, data: { reason: string('authentication_failed') } },
    // The charge's own answer already reached the saga as the step's result.
    { type: 'agora.payment.succeeded.v1', state: PaymentsState.CAPTURED, method: 'pm_card_visa', awaited: false, raises: [], n: 20, data: {} },
  ] as const;
  it.each(confirmations)('on $type after awaited confirmation $awaited, raises $raises in the saga', async ({ type, state, method, awaited, raises, n, data }) => {
    const orderId = order(n);
    const raised: { instanceId: string; name: string; payload: unknown }[] = [];
    const workflows = { raiseEvent: async (instanceId: string, name: string, payload?: unknown) => void raised.push({ instanceId, name, payload }) };
    const app = createHttpServer({ logger: silent, readiness: async () => undefined });
    await registerEventSubscriptions(app, { orm, consumer: SAGA_EVENTS_CONSUMER, subscriptions: paymentSubscriptions(workflows), logger: silent });
    try {
      await pact
        .addAsynchronousInteraction()
        .given(state, charge(orderId, method))
        .expectsToReceive(type, (message) =>
          message
            .withJSONContent({ paymentId: uuid(PAYMENT), orderId: uuid(orderId), userId: string(ALICE), amount: { amount: integer(16700), currency }, awaitedConfirmation: boolean(awaited), ...data })
            .withMetadata(eventMetadata(type, 'payments')),
        )
        .executeTest(async (message) => {
          const delivered = await app.inject({ method: 'POST', url: '/events/payments', headers: { 'content-type': CLOUDEVENT_CONTENT_TYPE }, payload: JSON.stringify(deliveryOf(message)) });
          expect(delivered.json()).toEqual({ status: 'SUCCESS' });
          expect(raised).toEqual(raises.map((name) => ({ instanceId: orderId, name, payload: { paymentId: PAYMENT } })));
        });
    } finally {
      await app.close();
    }
  });

  it('keeps pacts/orders-payments.json current', () => paymentsContract.settle());
});
