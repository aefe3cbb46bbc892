import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import { paymentsSubgraph } from '../src/subgraph.ts';

const ALICE_ORDER = '0d0e1000-0000-4000-8000-000000000001';
const ALICE_PAYMENT = '0e0f1000-0000-4000-8000-000000000001';
const ORDER_WITHOUT_PAYMENT = '0d0e1000-0000-4000-8000-00000000abcd';

let subgraph: TestSubgraph<Context>;
beforeAll(async () => {
  subgraph = await startTestSubgraph(paymentsSubgraph);
});
afterAll(() => subgraph?.close());

const ORDER_PAYMENT = 'query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Order { id payment { id status amount { amount currency } method } } } }';
const PAYMENT = 'query($id: ID!) { payment(id: $id) { id orderId status } }';

describe('Order.payment', () => {
  it("adds the payment to the payer's order, and null where an order has none", async () => {
    const { data, errors } = await subgraph.execute<{ _entities: { id: string; payment: unknown }[] }>(
      ORDER_PAYMENT,
      { representations: [{ __typename: 'Order', id: ALICE_ORDER }, { __typename: 'Order', id: ORDER_WITHOUT_PAYMENT }] },
      'alice',
    );
    expect(errors).toBeUndefined();
    expect(data?._entities).toEqual([
      { id: ALICE_ORDER, payment: { id: ALICE_PAYMENT, status: 'CAPTURED', amount: { amount: 16700, currency: 'EUR' }, method: 'pm_card_visa' } },
      { id: ORDER_WITHOUT_PAYMENT, payment: null },
    ]);
  });

  it("refuses another customer's payment with FORBIDDEN and anonymous callers with UNAUTHENTICATED", async () => {
    const representations = [{ __typename: 'Order', id: ALICE_ORDER }];
    expect((await subgraph.execute(ORDER_PAYMENT, { representations }, 'bob')).errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    expect((await subgraph.execute(ORDER_PAYMENT, { representations })).errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});

describe('payment(id)', () => {
  it('shows the payer their payment and an admin any payment', async () => {
    for (const user of ['alice', 'admin'] as const) {
      const { data } = await subgraph.execute<{ payment: { orderId: string } }>(PAYMENT, { id: ALICE_PAYMENT }, user);
      expect(data?.payment.orderId).toBe(ALICE_ORDER);
    }
  });

  it('answers NOT_FOUND for an unknown id', async () => {
    const { errors } = await subgraph.execute(PAYMENT, { id: '0e0f1000-0000-4000-8000-00000000ffff' }, 'alice');
    expect(errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
  });
});
