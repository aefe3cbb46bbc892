import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds, startTestIssuer, startTestSubgraph, type DevUser, type TestIssuer } from '@agora/testing';
import { inventorySubgraph } from '../../subgraphs/inventory/src/subgraph.ts';
import { ordersSubgraph } from '../../subgraphs/orders/src/subgraph.ts';
import { paymentsSubgraph } from '../../subgraphs/payments/src/subgraph.ts';
import { usersSubgraph } from '../../subgraphs/users/src/subgraph.ts';
import type { RunningGateway } from '../src/server.ts';
import { codesOf, graphql, startTestGateway, type GraphQLResponse } from './support.ts';

// The four subgraphs in this process, each on its own database, behind one gateway and one issuer.
const ALICE_ORDER = '0d0e1000-0000-4000-8000-000000000001';
const MICROPHONE = '7c0a1000-0000-4000-8000-000000000020';
const RESTOCK = 'mutation($id: ID!) { restockProduct(id: $id, quantity: 2) { stock } }';

let issuer: TestIssuer;
let services: { close(): Promise<void> }[] = [];
let gateway: RunningGateway;
beforeAll(async () => {
  issuer = await startTestIssuer();
  const [users, inventory, orders, payments] = await Promise.all([
    startTestSubgraph(usersSubgraph, { issuer }),
    startTestSubgraph(inventorySubgraph, { issuer }),
    startTestSubgraph(ordersSubgraph, { issuer }),
    startTestSubgraph(paymentsSubgraph, { issuer }),
  ]);
  services = [users, inventory, orders, payments];
  gateway = await startTestGateway(issuer.issuer, {
    SUBGRAPH_TRANSPORT: 'direct',
    SUBGRAPH_USERS_URL: users.service.url,
    SUBGRAPH_INVENTORY_URL: inventory.service.url,
    SUBGRAPH_ORDERS_URL: orders.service.url,
    SUBGRAPH_PAYMENTS_URL: payments.service.url,
  });
});
afterAll(async () => {
  await gateway?.stop();
  await Promise.all(services.map((service) => service.close()));
  await issuer?.close();
});

async function as<T>(user: DevUser | undefined, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>> {
  return graphql<T>(gateway.url, query, { ...(user ? { token: await issuer.tokenFor(user) } : {}), ...(variables ? { variables } : {}) });
}

describe('callers at the gateway', () => {
  it('lets anonymous callers read the catalog, which the gateway fetches with its own service token', async () => {
    const { status, data, errors } = await as<{ products: { totalCount: number } }>(undefined, '{ products { totalCount } }');
    expect(status).toBe(200);
    expect(errors).toBeUndefined();
    expect(data?.products.totalCount).toBe(20);
  });

  it('asks anonymous callers to sign in for their profile, orders, users and payments', async () => {
    for (const query of ['{ me { id } }', `{ order(id: "${ALICE_ORDER}") { id } }`, `{ user(id: "${devUserIds.bob}") { id } }`]) {
      expect(codesOf(await as(undefined, query))).toEqual(['UNAUTHENTICATED']);
    }
  });

  it("shows a customer their own orders across the four subgraphs and keeps them out of others' users", async () => {
    const mine = await as<{ me: { id: string; orders: { lines: { product: { name: string } }[]; payment: { status: string } | null }[] } }>(
      'alice',
      '{ me { id orders { lines { product { name } } payment { status } } } }',
    );
    expect(mine.errors).toBeUndefined();
    expect(mine.data?.me.id).toBe(devUserIds.alice);
    expect(mine.data?.me.orders.flatMap((order) => order.payment?.status).sort()).toEqual(['CAPTURED', 'DECLINED']);
    expect(codesOf(await as('alice', `{ user(id: "${devUserIds.bob}") { id } }`))).toEqual(['FORBIDDEN']);
  });

  it('performs admin operations only for admins: FORBIDDEN for customers, UNAUTHENTICATED for anonymous callers', async () => {
    expect(codesOf(await as(undefined, RESTOCK, { id: MICROPHONE }))).toEqual(['UNAUTHENTICATED']);
    expect(codesOf(await as('bob', RESTOCK, { id: MICROPHONE }))).toEqual(['FORBIDDEN']);
    const before = await as<{ product: { stock: number } }>(undefined, `{ product(id: "${MICROPHONE}") { stock } }`);
    const restocked = await as<{ restockProduct: { stock: number } }>('admin', RESTOCK, { id: MICROPHONE });
    expect(restocked.errors).toBeUndefined();
    expect(restocked.data?.restockProduct.stock).toBe((before.data?.product.stock ?? Number.NaN) + 2);
    const admin = await as<{ user: { username: string } }>('admin', `{ user(id: "${devUserIds.bob}") { username } }`);
    expect(admin.data?.user.username).toBe('bob');
  });
});
