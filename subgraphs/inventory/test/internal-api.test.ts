import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainCodeOf } from '@agora/internal-api';
import { startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import type { InventoryRouter } from '../src/internal/router.ts';
import { createInventorySubgraph } from '../src/subgraph.ts';
import { createProduct, eventsAbout, eventually, failureOf, inventoryClient, newOrderId, reservationsOf, serviceTokenOf, stockOf } from './utils.ts';

const KEYBOARD = '7c0a1000-0000-4000-8000-000000000001';
const MOUSE = '7c0a1000-0000-4000-8000-000000000002';
const UNKNOWN = '7c0a1000-0000-4000-8000-00000000ffff';

let subgraph: TestSubgraph<Context>;
let inventory: TRPCClient<InventoryRouter>;
const orm = () => subgraph.service.orm;

beforeAll(async () => {
  // A short sweep interval, so reservations given a one-second TTL are released while the test waits.
  subgraph = await startTestSubgraph(createInventorySubgraph({ RESERVATION_SWEEP_INTERVAL_MS: 100 }));
  const service = serviceTokenOf(subgraph.issuer);
  inventory = inventoryClient(subgraph.service.url, () => service.token());
});
afterAll(() => subgraph?.close());

describe('quote', () => {
  it('prices products in the order asked, with what is available', async () => {
    const { products } = await inventory.quote.query({ productIds: [MOUSE, KEYBOARD] });
    expect(products).toEqual([
      { productId: MOUSE, sku: 'AGR-MS-002', name: 'Wireless mouse', unitPrice: { amount: 3900, currency: 'EUR' }, available: expect.any(Number) as number },
      { productId: KEYBOARD, sku: 'AGR-KB-001', name: 'Mechanical keyboard', unitPrice: { amount: 8900, currency: 'EUR' }, available: expect.any(Number) as number },
    ]);
  });

  it('answers availability as on hand minus reserved', async () => {
    const productId = await createProduct(orm(), 7);
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 3 });
    const { products } = await inventory.quote.query({ productIds: [productId] });
    expect(products[0]?.available).toBe(4);
  });

  it('fails with NOT_FOUND naming every unknown product', async () => {
    const other = '7c0a1000-0000-4000-8000-00000000fffe';
    const error = await failureOf(inventory.quote.query({ productIds: [KEYBOARD, UNKNOWN, other] }));
    expect(error.data.code).toBe('NOT_FOUND');
    expect(domainCodeOf(error)).toBe('NOT_FOUND');
    expect(error.data.details).toEqual({ productIds: [UNKNOWN, other] });
    expect(error.message).toContain(UNKNOWN);
  });

  it('rejects an empty list, more than 100 ids and duplicates with BAD_REQUEST', async () => {
    const many = Array.from({ length: 101 }, (_, n) => `7c0a1000-0000-4000-8000-${String(n).padStart(12, '0')}`);
    for (const productIds of [[], many, [KEYBOARD, KEYBOARD]]) {
      const error = await failureOf(inventory.quote.query({ productIds }));
      expect(error.data.code).toBe('BAD_REQUEST');
      expect(error.data.httpStatus).toBe(400);
    }
  });
});

describe('reserve', () => {
  it('holds stock for an order line and writes agora.stock.reserved.v1 with it', async () => {
    const productId = await createProduct(orm(), 20);
    const orderId = newOrderId();
    const before = Date.now();
    const reservation = await inventory.reserve.mutate({ orderId, productId, quantity: 3, ttlSeconds: 60 });

    expect(reservation).toMatchObject({ productId, quantity: 3, status: 'RESERVED' });
    expect(Date.parse(reservation.expiresAt) - before).toBeGreaterThanOrEqual(59_000);
    expect(Date.parse(reservation.expiresAt) - before).toBeLessThan(65_000);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 20, stock_reserved: 3 });
    expect(await eventsAbout(orm(), productId)).toEqual([
      { type: 'agora.stock.reserved.v1', subject: productId, source: 'agora/inventory', topic: 'inventory', data: { orderId, productId, quantity: 3 } },
    ]);
  });

  it('expires after 15 minutes unless told otherwise', async () => {
    const productId = await createProduct(orm(), 5);
    const before = Date.now();
    const reservation = await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 1 });
    expect(Date.parse(reservation.expiresAt) - before).toBeGreaterThanOrEqual(899_000);
    expect(Date.parse(reservation.expiresAt) - before).toBeLessThan(905_000);
  });

  it('returns the first reservation on a replay and changes nothing', async () => {
    const productId = await createProduct(orm(), 10);
    const input = { orderId: newOrderId(), productId, quantity: 4 };
    const first = await inventory.reserve.mutate(input);
    const again = await inventory.reserve.mutate(input);
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => inventory.reserve.mutate(input)));

    for (const replay of [again, ...concurrent]) expect(replay).toEqual(first);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 4 });
    expect(await reservationsOf(orm(), productId)).toHaveLength(1);
    expect((await eventsAbout(orm(), productId)).filter((e) => e.type === 'agora.stock.reserved.v1')).toHaveLength(1);
  });

  it('reserves once when the same line arrives many times at once', async () => {
    const productId = await createProduct(orm(), 10);
    const input = { orderId: newOrderId(), productId, quantity: 2 };
    const results = await Promise.all(Array.from({ length: 12 }, () => inventory.reserve.mutate(input)));

    expect(new Set(results.map((r) => r.reservationId)).size).toBe(1);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 2 });
    expect((await eventsAbout(orm(), productId)).filter((e) => e.type === 'agora.stock.reserved.v1')).toHaveLength(1);
  });

  it('fails with OUT_OF_STOCK and what is available when there is not enough, writing no event', async () => {
    const productId = await createProduct(orm(), 3);
    const error = await failureOf(inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 4 }));

    expect(domainCodeOf(error)).toBe('OUT_OF_STOCK');
    expect(error.data.details).toEqual({ productId, requested: 4, available: 3 });
    expect(error.data.httpStatus).toBe(422);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 3, stock_reserved: 0 });
    expect(await eventsAbout(orm(), productId)).toEqual([]);
  });

  it('answers a replay of a refused line with the same OUT_OF_STOCK, even after a restock', async () => {
    const productId = await createProduct(orm(), 1);
    const input = { orderId: newOrderId(), productId, quantity: 2 };
    const first = await failureOf(inventory.reserve.mutate(input));
    await subgraph.service.orm.em.fork().execute('update "products" set "stock_on_hand" = 50 where "id" = ?', [productId]);
    const replay = await failureOf(inventory.reserve.mutate(input));

    expect(domainCodeOf(replay)).toBe('OUT_OF_STOCK');
    expect(replay.data.details).toEqual(first.data.details);
    expect(replay.message).toBe(first.message);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 50, stock_reserved: 0 });
  });

  it('refuses the same order and product with another quantity as IDEMPOTENCY_KEY_REUSED', async () => {
    const productId = await createProduct(orm(), 10);
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId, quantity: 2 });
    const error = await failureOf(inventory.reserve.mutate({ orderId, productId, quantity: 3 }));

    expect(domainCodeOf(error)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(error.data.httpStatus).toBe(409);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 2 });
  });

  it('fails with NOT_FOUND for an unknown product and stores nothing', async () => {
    const orderId = newOrderId();
    const error = await failureOf(inventory.reserve.mutate({ orderId, productId: UNKNOWN, quantity: 1 }));
    expect(domainCodeOf(error)).toBe('NOT_FOUND');
    expect(await reservationsOf(orm(), UNKNOWN)).toEqual([]);
  });

  it('emits agora.stock.low.v1 once, when a reserve takes availability below five', async () => {
    const productId = await createProduct(orm(), 7);
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 2 });
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 1 });
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 1 });

    const low = (await eventsAbout(orm(), productId)).filter((e) => e.type === 'agora.stock.low.v1');
    expect(low.map((e) => e.data)).toEqual([{ productId, sku: expect.stringMatching(/^T-/) as string, available: 4, threshold: 5 }]);
  });

  it('rejects a zero, negative, fractional or too large quantity, a bad uuid and a bad TTL with BAD_REQUEST', async () => {
    const productId = await createProduct(orm(), 10);
    const orderId = newOrderId();
    const bad = [
      { orderId, productId, quantity: -1 },
      { orderId, productId, quantity: 0 },
      { orderId, productId, quantity: 1.5 },
      { orderId, productId, quantity: 1001 },
      { orderId: 'not-a-uuid', productId, quantity: 1 },
      { orderId, productId: '7c0a1000', quantity: 1 },
      { orderId, productId, quantity: 1, ttlSeconds: 0 },
      { orderId, productId, quantity: 1, ttlSeconds: 86_401 },
    ];
    for (const input of bad) {
      const error = await failureOf(inventory.reserve.mutate(input));
      expect(error.data.code, JSON.stringify(input)).toBe('BAD_REQUEST');
      expect(domainCodeOf(error)).toBeUndefined();
    }
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 0 });
    expect(await reservationsOf(orm(), productId)).toEqual([]);
  });
});

describe('concurrency', () => {
  it('grants exactly 5 of 50 concurrent single-unit reserves for a product with stock 5 and refuses the other 45', async () => {
    const productId = await createProduct(orm(), 5);
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 1 })));

    const granted = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [domainCodeOf(o.reason)] : []));
    expect(granted).toHaveLength(5);
    expect(refused).toEqual(Array.from({ length: 45 }, () => 'OUT_OF_STOCK'));
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 5, stock_reserved: 5 });
    const rows = await reservationsOf(orm(), productId);
    expect(rows.filter((r) => r.status === 'RESERVED')).toHaveLength(5);
    expect(rows.filter((r) => r.status === 'REJECTED')).toHaveLength(45);
    const events = await eventsAbout(orm(), productId);
    expect(events.filter((e) => e.type === 'agora.stock.reserved.v1')).toHaveLength(5);
    expect(events.filter((e) => e.type === 'agora.stock.low.v1')).toHaveLength(1);
  });

  it('never lets available stock go below zero while reserves, commits and releases race', async () => {
    const productId = await createProduct(orm(), 10);
    const orders = Array.from({ length: 30 }, () => newOrderId());
    await Promise.allSettled(
      orders.map(async (orderId, n) => {
        await inventory.reserve.mutate({ orderId, productId, quantity: 1 + (n % 3) });
        await (n % 2 === 0 ? inventory.commit.mutate({ orderId }) : inventory.release.mutate({ orderId, reason: 'test' }));
      }),
    );
    const stock = await stockOf(orm(), productId);
    const rows = await reservationsOf(orm(), productId);
    const sum = (status: string) => rows.filter((r) => r.status === status).reduce((total, r) => total + r.quantity, 0);
    expect(stock.stock_reserved).toBe(sum('RESERVED'));
    expect(stock.stock_on_hand).toBe(10 - sum('COMMITTED'));
    expect(stock.stock_on_hand - stock.stock_reserved).toBeGreaterThanOrEqual(0);
  });
});

describe('commit', () => {
  it('takes every reserved line of the order off the shelf, and answers the same on a replay', async () => {
    const [a, b] = [await createProduct(orm(), 10), await createProduct(orm(), 10)];
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId: a, quantity: 2 });
    await inventory.reserve.mutate({ orderId, productId: b, quantity: 5 });

    expect(await inventory.commit.mutate({ orderId })).toEqual({ committed: 2 });
    expect(await inventory.commit.mutate({ orderId })).toEqual({ committed: 2 });
    expect(await stockOf(orm(), a)).toEqual({ stock_on_hand: 8, stock_reserved: 0 });
    expect(await stockOf(orm(), b)).toEqual({ stock_on_hand: 5, stock_reserved: 0 });
    expect((await reservationsOf(orm(), a)).map((r) => r.status)).toEqual(['COMMITTED']);
  });

  it('leaves committed reservations alone when the order is released afterwards', async () => {
    const productId = await createProduct(orm(), 10);
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId, quantity: 3 });
    await inventory.commit.mutate({ orderId });

    expect(await inventory.release.mutate({ orderId, reason: 'late compensation' })).toEqual({ released: 0 });
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 7, stock_reserved: 0 });
    expect((await eventsAbout(orm(), productId)).map((e) => e.type)).not.toContain('agora.stock.released.v1');
  });

  it('fails with CONFLICT and changes nothing when a line of the order was released', async () => {
    const [a, b] = [await createProduct(orm(), 10), await createProduct(orm(), 10)];
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId: a, quantity: 1 });
    await inventory.release.mutate({ orderId, reason: 'payment declined' });
    await inventory.reserve.mutate({ orderId, productId: b, quantity: 1 });

    const error = await failureOf(inventory.commit.mutate({ orderId }));
    expect(domainCodeOf(error)).toBe('CONFLICT');
    expect(error.data.details).toEqual({ orderId, reservations: [{ productId: a, status: 'RELEASED' }] });
    expect(await stockOf(orm(), b)).toEqual({ stock_on_hand: 10, stock_reserved: 1 });
  });

  it('fails with CONFLICT when a line of the order was refused for lack of stock', async () => {
    const [a, b] = [await createProduct(orm(), 10), await createProduct(orm(), 1)];
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId: a, quantity: 1 });
    await failureOf(inventory.reserve.mutate({ orderId, productId: b, quantity: 2 }));

    const error = await failureOf(inventory.commit.mutate({ orderId }));
    expect(domainCodeOf(error)).toBe('CONFLICT');
    expect(error.data.details).toEqual({ orderId, reservations: [{ productId: b, status: 'REJECTED' }] });
    expect(await stockOf(orm(), a)).toEqual({ stock_on_hand: 10, stock_reserved: 1 });
  });

  it('fails with NOT_FOUND for an order without reservations', async () => {
    const error = await failureOf(inventory.commit.mutate({ orderId: newOrderId() }));
    expect(domainCodeOf(error)).toBe('NOT_FOUND');
  });
});

describe('release', () => {
  it('gives held stock back, writes agora.stock.released.v1 per line, and answers the same on a replay', async () => {
    const productId = await createProduct(orm(), 10);
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId, quantity: 4 });

    expect(await inventory.release.mutate({ orderId, reason: 'payment declined' })).toEqual({ released: 1 });
    expect(await inventory.release.mutate({ orderId, reason: 'payment declined' })).toEqual({ released: 1 });
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 0 });
    expect(await reservationsOf(orm(), productId)).toEqual([{ order_id: orderId, status: 'RELEASED', quantity: 4, release_reason: 'payment declined' }]);
    const released = (await eventsAbout(orm(), productId)).filter((e) => e.type === 'agora.stock.released.v1');
    expect(released.map((e) => e.data)).toEqual([{ orderId, productId, quantity: 4, reason: 'payment declined' }]);
  });

  it('answers zero for an order that has no reservations', async () => {
    expect(await inventory.release.mutate({ orderId: newOrderId(), reason: 'nothing reserved' })).toEqual({ released: 0 });
  });

  it('rejects an empty reason with BAD_REQUEST', async () => {
    const error = await failureOf(inventory.release.mutate({ orderId: newOrderId(), reason: ' ' }));
    expect(error.data.code).toBe('BAD_REQUEST');
  });
});

describe('expiry', () => {
  it('releases a reservation that was never committed once its TTL passes, and then refuses to commit it', async () => {
    const productId = await createProduct(orm(), 10);
    const orderId = newOrderId();
    await inventory.reserve.mutate({ orderId, productId, quantity: 2, ttlSeconds: 1 });
    expect((await stockOf(orm(), productId)).stock_reserved).toBe(2);

    await eventually(async () => (await reservationsOf(orm(), productId))[0]?.status === 'RELEASED');
    expect(await reservationsOf(orm(), productId)).toEqual([{ order_id: orderId, status: 'RELEASED', quantity: 2, release_reason: 'expired' }]);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 0 });
    const released = (await eventsAbout(orm(), productId)).filter((e) => e.type === 'agora.stock.released.v1');
    expect(released.map((e) => e.data)).toEqual([{ orderId, productId, quantity: 2, reason: 'expired' }]);

    const error = await failureOf(inventory.commit.mutate({ orderId }));
    expect(domainCodeOf(error)).toBe('CONFLICT');
    expect(await inventory.release.mutate({ orderId, reason: 'compensation' })).toEqual({ released: 1 });
  });
});

describe('transactions', () => {
  it('writes the stock change, the reservation and its outbox event in one transaction', async () => {
    const productId = await createProduct(orm(), 10);
    const doomed = newOrderId();
    const em = orm().em.fork();
    // A trigger that refuses this order's outbox row makes the whole reserve fail: nothing of it may remain.
    await em.execute(`create function refuse_outbox() returns trigger language plpgsql as $$
      begin if new.data->>'orderId' = '${doomed}' then raise exception 'outbox refused'; end if; return new; end $$`);
    await em.execute('create trigger refuse_outbox before insert on "outbox_events" for each row execute function refuse_outbox()');
    try {
      const error = await failureOf(inventory.reserve.mutate({ orderId: doomed, productId, quantity: 3 }));
      expect(error.data.code).toBe('INTERNAL_SERVER_ERROR');
      expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 0 });
      expect(await reservationsOf(orm(), productId)).toEqual([]);
    } finally {
      await em.execute('drop trigger refuse_outbox on "outbox_events"');
      await em.execute('drop function refuse_outbox()');
    }
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 3 });
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 3 });
  });
});

describe('access', () => {
  it('refuses a call without a token with UNAUTHORIZED (401)', async () => {
    const anonymous = inventoryClient(subgraph.service.url, async () => undefined);
    const error = await failureOf(anonymous.quote.query({ productIds: [KEYBOARD] }));
    expect(error.data.code).toBe('UNAUTHORIZED');
    expect(error.data.httpStatus).toBe(401);
  });

  it('refuses an invalid token with UNAUTHORIZED', async () => {
    const forged = inventoryClient(subgraph.service.url, async () => 'not.a.jwt');
    expect((await failureOf(forged.quote.query({ productIds: [KEYBOARD] }))).data.code).toBe('UNAUTHORIZED');
  });

  it("refuses a customer's token and the gateway's role-less token with FORBIDDEN (403), reserving nothing", async () => {
    const productId = await createProduct(orm(), 5);
    for (const token of [() => subgraph.issuer.tokenFor('alice'), () => subgraph.issuer.serviceToken()]) {
      const client = inventoryClient(subgraph.service.url, token);
      const error = await failureOf(client.reserve.mutate({ orderId: newOrderId(), productId, quantity: 1 }));
      expect(error.data.code).toBe('FORBIDDEN');
      expect(error.data.httpStatus).toBe(403);
    }
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 5, stock_reserved: 0 });
  });
});
