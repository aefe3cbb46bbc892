import { fileURLToPath } from 'node:url';
import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInternalClient, domainCodeOf } from '@agora/internal-api';
import { startSidecar, type RunningSidecar } from '@agora/sidecar';
import { freePort, startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import type { InventoryRouter } from '../src/internal/router.ts';
import { createInventorySubgraph } from '../src/subgraph.ts';
import { createProduct, eventually, failureOf, newOrderId, serviceTokenOf } from './utils.ts';

// The way the order saga reaches inventory: a typed client on the orders app's sidecar, Dapr
// service invocation to inventory's sidecar, then /trpc on the inventory app; and the way stock
// events leave: the outbox relay publishing to inventory's sidecar (in-memory pub/sub).

const embeddedComponents = fileURLToPath(new URL('../../../dapr/components-embedded', import.meta.url));

let subgraph: TestSubgraph<Context>;
let inventorySidecar: RunningSidecar;
let ordersSidecar: RunningSidecar;
let inventory: TRPCClient<InventoryRouter>;

beforeAll(async () => {
  // The relay needs the sidecar's port before the app starts, and the sidecar the app's port: fix the first.
  const daprHttpPort = await freePort();
  subgraph = await startTestSubgraph(createInventorySubgraph({ DAPR_HTTP_PORT: daprHttpPort }));
  inventorySidecar = await startSidecar({ appId: 'inventory', appPort: subgraph.service.port, httpPort: daprHttpPort, resourcesPaths: [embeddedComponents], logLevel: 'warn' });
  ordersSidecar = await startSidecar({ appId: 'orders', httpPort: 0, resourcesPaths: [embeddedComponents], peers: { inventory: inventorySidecar.url }, logLevel: 'warn' });
  const service = serviceTokenOf(subgraph.issuer);
  inventory = createInternalClient<InventoryRouter>({ appId: 'inventory', daprHttpPort: ordersSidecar.httpPort, token: () => service.token() });
});
afterAll(async () => {
  await ordersSidecar?.stop();
  await subgraph?.close();
  await inventorySidecar?.stop();
});

describe('inventory over Dapr', () => {
  it('answers the saga through service invocation, domain failures included', async () => {
    const productId = await createProduct(subgraph.service.orm, 2);
    const { products } = await inventory.quote.query({ productIds: [productId] });
    expect(products[0]?.available).toBe(2);

    const orderId = newOrderId();
    const reservation = await inventory.reserve.mutate({ orderId, productId, quantity: 2 });
    expect(reservation.status).toBe('RESERVED');
    const refused = await failureOf(inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 1 }));
    expect(domainCodeOf(refused)).toBe('OUT_OF_STOCK');
    expect(refused.data.details).toEqual({ productId, requested: 1, available: 0 });
    expect(await inventory.commit.mutate({ orderId })).toEqual({ committed: 1 });
  });

  it('publishes the stock events of the outbox through the sidecar and marks them sent', async () => {
    const productId = await createProduct(subgraph.service.orm, 10);
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 6 });
    const unsent = () =>
      subgraph.service.orm.em.fork().execute<{ type: string }[]>('select "type" from "outbox_events" where "subject" = ? and "sent_at" is null', [productId]);
    const all = await subgraph.service.orm.em.fork().execute<{ type: string }[]>('select "type" from "outbox_events" where "subject" = ?', [productId]);
    expect(all.map((row) => row.type).sort()).toEqual(['agora.stock.low.v1', 'agora.stock.reserved.v1']);
    await eventually(async () => (await unsent()).length === 0);
  });
});
