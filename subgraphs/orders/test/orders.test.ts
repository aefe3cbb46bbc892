import { randomUUID } from 'node:crypto';
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

describe('me { orders } paging', () => {
  const PAGE = 'query($representations: [_Any!]!, $first: Int, $after: ID) { _entities(representations: $representations) { ... on User { orders(first: $first, after: $after) { id } } } }';
  const representations = [{ __typename: 'User', id: devUserIds.bob }];
  const page = async (first: number, after?: string) => {
    const { data, errors } = await subgraph.execute<{ _entities: { orders: { id: string }[] }[] }>(PAGE, { representations, first, after }, 'bob');
    return { ids: data?._entities[0]?.orders.map((order) => order.id), code: errors?.[0]?.extensions?.['code'] };
  };

  // Bob's orders, newest first: two share a creation time, so the id breaks the tie (ascending).
  const created = ['2026-11-05T10:00:00Z', '2026-11-04T10:00:00Z', '2026-11-04T10:00:00Z', '2026-11-03T10:00:00Z', '2026-11-02T10:00:00Z'];
  let inserted: string[];
  let expected: string[];
  beforeAll(async () => {
    const rows = created.map((at) => ({ id: randomUUID(), at }));
    for (const { id, at } of rows) {
      await subgraph.service.orm.em
        .getConnection()
        .execute(`insert into orders (id, customer_id, status, total_amount, currency, created_at, updated_at, payment_method) values (?, ?, 'CONFIRMED', 1200, 'EUR', ?, ?, 'pm_card_visa')`, [id, devUserIds.bob, at, at]);
    }
    inserted = rows.sort((a, b) => b.at.localeCompare(a.at) || a.id.localeCompare(b.id)).map((row) => row.id);
    // With the orders the seed gave bob.
    const all = await subgraph.service.orm.em.getConnection().execute<{ id: string; created_at: string }[]>("select id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') as created_at from orders where customer_id = ?", [devUserIds.bob]);
    expected = all.sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id)).map((row) => row.id);
  });

  it('pages through all of a user\'s orders newest first with first/after, each once, and ends with an empty page', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let round = 0; round < 10; round += 1) {
      const { ids, code } = await page(2, after);
      expect(code).toBeUndefined();
      if (!ids || ids.length === 0) break;
      expect(ids.length).toBeLessThanOrEqual(2);
      seen.push(...ids);
      after = ids.at(-1);
    }
    expect(expected.length).toBeGreaterThan(inserted.length);
    expect(expected.filter((id) => inserted.includes(id))).toEqual(inserted);
    expect(seen).toEqual(expected);
    expect((await page(20)).ids).toEqual(expected);
    expect((await page(1, expected[1])).ids).toEqual([expected[2]]);
  });

  it('refuses a page size outside 1..100 and a cursor that is not one of the user\'s orders', async () => {
    expect((await page(0)).code).toBe('BAD_USER_INPUT');
    expect((await page(101)).code).toBe('BAD_USER_INPUT');
    expect((await page(2, ALICE_CONFIRMED)).code).toBe('BAD_USER_INPUT');
    expect((await page(2, UNKNOWN)).code).toBe('BAD_USER_INPUT');
  });
});
