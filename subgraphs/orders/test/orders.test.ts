import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds, startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import { ordersSubgraph } from '../src/subgraph.ts';

const ALICE_CONFIRMED = '0d0e1000-0000-4000-8000-000000000001';
const ALICE_CANCELLED = '0d0e1000-0000-4000-8000-000000000002';
const UNKNOWN = '0d0e1000-0000-4000-8000-00000000ffff';

interface OrderView {
  id: string;
  status: string;
  customer: { id: string };
  total: { amount: number; currency: string };
  lines: { quantity: number; product: { id: string }; unitPrice: { amount: number }; lineTotal: { amount: number } }[];
}

let subgraph: TestSubgraph<Context>;
beforeAll(async () => {
  subgraph = await startTestSubgraph(ordersSubgraph);
});
afterAll(() => subgraph?.close());

const ORDER = `query($id: ID!) { order(id: $id) {
  id status customer { id } total { amount currency }
  lines { quantity product { id } unitPrice { amount } lineTotal { amount } } } }`;

describe('order(id)', () => {
  it('shows the owner their order with lines whose totals add up', async () => {
    const { data, errors } = await subgraph.execute<{ order: OrderView }>(ORDER, { id: ALICE_CONFIRMED }, 'alice');
    expect(errors).toBeUndefined();
    const order = data?.order;
    expect(order).toMatchObject({ id: ALICE_CONFIRMED, status: 'CONFIRMED', customer: { id: devUserIds.alice }, total: { amount: 16700, currency: 'EUR' } });
    expect(order?.lines).toHaveLength(2);
    expect(order?.lines.reduce((sum, line) => sum + line.lineTotal.amount, 0)).toBe(order?.total.amount);
    for (const line of order?.lines ?? []) expect(line.lineTotal.amount).toBe(line.quantity * line.unitPrice.amount);
  });

  it("refuses another customer's order with FORBIDDEN but lets an admin read it", async () => {
    const asBob = await subgraph.execute(ORDER, { id: ALICE_CONFIRMED }, 'bob');
    expect(asBob.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const asAdmin = await subgraph.execute<{ order: OrderView }>(ORDER, { id: ALICE_CONFIRMED }, 'admin');
    expect(asAdmin.data?.order.id).toBe(ALICE_CONFIRMED);
  });

  it('answers NOT_FOUND for an unknown id and UNAUTHENTICATED without a token', async () => {
    expect((await subgraph.execute(ORDER, { id: UNKNOWN }, 'alice')).errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    expect((await subgraph.execute(ORDER, { id: ALICE_CONFIRMED })).errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});

describe('User.orders', () => {
  const USER_ORDERS = 'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { orders { id status } } } }';

  it("lists a user's own orders newest first", async () => {
    const { data, errors } = await subgraph.execute<{ _entities: { orders: { id: string }[] }[] }>(
      USER_ORDERS,
      { representations: [{ __typename: 'User', id: devUserIds.alice }] },
      'alice',
    );
    expect(errors).toBeUndefined();
    expect(data?._entities[0]?.orders.map((o) => o.id)).toEqual([ALICE_CANCELLED, ALICE_CONFIRMED]);
  });

  it("refuses to list another customer's orders", async () => {
    const { errors } = await subgraph.execute(USER_ORDERS, { representations: [{ __typename: 'User', id: devUserIds.alice }] }, 'bob');
    expect(errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('refuses them to anonymous callers (the service token) and to calls without a token, which get 401', async () => {
    const representations = [{ __typename: 'User', id: devUserIds.alice }];
    expect((await subgraph.execute(USER_ORDERS, { representations })).errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    const direct = await subgraph.post(USER_ORDERS, { variables: { representations } });
    expect(direct.status).toBe(401);
    expect(direct.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});
