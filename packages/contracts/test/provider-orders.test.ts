import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { z } from 'zod';
import { createClientCredentialsTokenSource } from '@agora/auth';
import type { EventType } from '@agora/events';
import { createInternalClient } from '@agora/internal-api';
import { createLogger, openDatabase } from '@agora/service';
import { createTestDatabase, startTestSubgraph, type TestDatabase, type TestSubgraph } from '@agora/testing';
import type { Context as InventoryContext } from '../../../subgraphs/inventory/src/context.ts';
import type { InventoryRouter } from '../../../subgraphs/inventory/src/internal/router.ts';
import { Product } from '../../../subgraphs/inventory/src/modules/product/product.entity.ts';
import { createInventorySubgraph } from '../../../subgraphs/inventory/src/subgraph.ts';
import { database as ordersDatabase } from '../../../subgraphs/orders/src/database.ts';
import { createActivities } from '../../../subgraphs/orders/src/saga/activities.ts';
import { Activity, type Outcome } from '../../../subgraphs/orders/src/saga/contract.ts';
import { createOrder } from '../../../subgraphs/orders/src/saga/order-placement.ts';
import type { PaymentsRouter } from '../../../subgraphs/payments/src/internal/router.ts';
import { messageOf, outboxEventAbout, stateParam } from '../src/cloud-events.ts';
import { SERVICE_CLIENT } from '../src/service-client.ts';
import { OrdersState } from '../src/states.ts';
import { verifyProvider } from '../src/verify.ts';

// Orders as a provider of order events (messages only; nothing calls orders over HTTP). Each
// provider state runs the code that writes the event: placement (createOrder, priced by a real
// inventory service) and the saga's activities (confirm, cancel, escalate), on the
// orders service's own database; the message is the CloudEvent of the outbox row it wrote.

const silent = createLogger('orders-provider-contract', 'silent');
let database: TestDatabase;
let orm: MikroORM;
let inventory: TestSubgraph<InventoryContext>;
let activities: ReturnType<typeof createActivities>;
let inventoryClient: ReturnType<typeof createInternalClient<InventoryRouter>>;
let productId: string;

beforeAll(async () => {
  [database, inventory] = await Promise.all([createTestDatabase('contracts_orders_provider'), startTestSubgraph(createInventorySubgraph())]);
  orm = await openDatabase(ordersDatabase, database.url, { migrate: true, seed: false, logger: silent });
  const tokens = createClientCredentialsTokenSource({ issuer: inventory.issuer.issuer, ...SERVICE_CLIENT });
  const token = () => tokens.token();
  inventoryClient = createInternalClient<InventoryRouter>({ url: `http://127.0.0.1:${inventory.service.port}/trpc`, token });
  // Confirm, cancel and escalate never call payments.
  const payments = createInternalClient<PaymentsRouter>({ url: 'http://127.0.0.1:9/trpc', token });
  activities = createActivities({ orm, inventory: inventoryClient, payments, logger: silent });
  const em = inventory.service.orm.em.fork();
  productId = em.create(Product, { sku: 'PACT-ORDERS', name: 'Contract product', description: 'Priced for placed orders.', priceAmount: 8350, currency: 'EUR', stockOnHand: 100, stockReserved: 0 }).id;
  await em.flush();
});
afterAll(async () => {
  await orm?.close();
  await database?.drop();
  await inventory?.close();
});

const orderParams = z.object({ orderId: z.uuid(), userId: z.string().min(1), reason: z.string().min(1).default('payment declined') });

/** The order placed anew: priced by inventory's quote, PENDING, with agora.order.placed.v1 in the outbox. */
async function placed(params: unknown): Promise<z.infer<typeof orderParams>> {
  const order = orderParams.parse(params);
  const connection = orm.em.getConnection();
  await connection.execute(`delete from "outbox_events" where "data"->>'orderId' = ?`, [order.orderId]);
  await connection.execute('delete from "saga_steps" where "order_id" = ?', [order.orderId]);
  await connection.execute('delete from "orders" where "id" = ?', [order.orderId]);
  await createOrder({ orm, inventory: inventoryClient }, order.orderId, order.userId, [{ productId, quantity: 2 }], 'pm_card_visa');
  return order;
}

/** Runs a saga activity as the workflow runtime would; fails the state when it does not succeed. */
async function run(name: string, input: Record<string, unknown>): Promise<void> {
  const activity = activities[name];
  if (!activity) throw new Error(`no activity ${name}`);
  const outcome = (await activity({} as Parameters<typeof activity>[0], input)) as Outcome<unknown>;
  if (!outcome.ok) throw new Error(`${name} failed: ${outcome.message}`);
}

const producedEvent = (type: EventType) => async (descriptor: Parameters<typeof stateParam>[0]) => messageOf(await outboxEventAbout(orm, type, stateParam(descriptor, 'orderId')));

describe('orders', () => {
  it('honours the pacts of its consumers', async () => {
    await verifyProvider({
      provider: 'orders',
      consumers: ['users'],
      stateHandlers: {
        [OrdersState.PLACED]: async (params) => {
          await placed(params);
        },
        [OrdersState.CONFIRMED]: async (params) => {
          const { orderId } = await placed(params);
          await run(Activity.CONFIRM_ORDER, { orderId, step: 'confirm-order' });
        },
        [OrdersState.CANCELLED]: async (params) => {
          const { orderId, reason } = await placed(params);
          await run(Activity.CANCEL_ORDER, { orderId, step: 'cancel-order', reason });
        },
        [OrdersState.NEEDS_ATTENTION]: async (params) => {
          const { orderId } = await placed(params);
          await run(Activity.ESCALATE, { orderId, step: 'escalate', reason: 'release-stock kept failing: a service it needs did not answer', error: 'ERR_DIRECT_INVOKE (HTTP 500): failed to invoke, id: inventory' });
        },
      },
      messageProviders: {
        'agora.order.placed.v1': producedEvent('agora.order.placed.v1'),
        'agora.order.confirmed.v1': producedEvent('agora.order.confirmed.v1'),
        'agora.order.cancelled.v1': producedEvent('agora.order.cancelled.v1'),
        'agora.order.needs-attention.v1': producedEvent('agora.order.needs-attention.v1'),
      },
    });
  });
});
