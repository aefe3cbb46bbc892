import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainCodeOf } from '@agora/internal-api';
import { startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import type { InventoryRouter } from '../src/internal/router.ts';
import { releaseExpiredReservations } from '../src/modules/reservation/expire-reservations.ts';
import { createInventorySubgraph } from '../src/subgraph.ts';
import { createProduct, eventsAbout, eventually, failureOf, inventoryClient, newOrderId, reservationsOf, serviceTokenOf, stockOf } from './utils.ts';

// The background sweep is effectively off here (one per ten minutes): these tests sweep themselves.
let subgraph: TestSubgraph<Context>;
let inventory: TRPCClient<InventoryRouter>;
const orm = () => subgraph.service.orm;

beforeAll(async () => {
  subgraph = await startTestSubgraph(createInventorySubgraph({ RESERVATION_SWEEP_INTERVAL_MS: 600_000 }));
  const service = serviceTokenOf(subgraph.issuer);
  inventory = inventoryClient(subgraph.service.url, () => service.token());
});
afterAll(() => subgraph?.close());

describe('reservation expiry', () => {
  it('refuses to commit a reservation past its expiry even before the sweep released it', async () => {
    const productId = await createProduct(orm(), 10);
    const orderId = newOrderId();
    const reservation = await inventory.reserve.mutate({ orderId, productId, quantity: 1, ttlSeconds: 1 });
    await eventually(async () => Date.now() > Date.parse(reservation.expiresAt));

    const error = await failureOf(inventory.commit.mutate({ orderId }));
    expect(domainCodeOf(error)).toBe('CONFLICT');
    expect(error.data.details).toEqual({ orderId, reservations: [{ productId, status: 'EXPIRED' }] });
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 1 });

    // The saga compensates: release gives the stock back like the sweep would have.
    expect(await inventory.release.mutate({ orderId, reason: 'commit refused' })).toEqual({ released: 1 });
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 0 });
  });

  it('releases each expired reservation exactly once when two instances sweep at the same time', async () => {
    const productId = await createProduct(orm(), 500);
    const orders = Array.from({ length: 240 }, () => newOrderId());
    for (let n = 0; n < orders.length; n += 40) {
      await Promise.all(orders.slice(n, n + 40).map((orderId) => inventory.reserve.mutate({ orderId, productId, quantity: 2, ttlSeconds: 3600 })));
    }
    const committed = orders.slice(0, 10);
    for (const orderId of committed) await inventory.commit.mutate({ orderId });
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 480, stock_reserved: 460 });

    // Two hours on, two sweeps at once, each in its own transactions on its own connections.
    const later = new Date(Date.now() + 2 * 3600_000);
    const [first, second] = await Promise.all([releaseExpiredReservations(orm().em, later), releaseExpiredReservations(orm().em, later)]);

    expect(first + second).toBe(230);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 480, stock_reserved: 0 });
    const rows = await reservationsOf(orm(), productId);
    expect(rows.filter((r) => r.status === 'RELEASED' && r.release_reason === 'expired')).toHaveLength(230);
    expect(rows.filter((r) => r.status === 'COMMITTED')).toHaveLength(10);
    const released = (await eventsAbout(orm(), productId)).filter((e) => e.type === 'agora.stock.released.v1');
    expect(released).toHaveLength(230);
    expect(new Set(released.map((e) => e.data['orderId'])).size).toBe(230);

    expect(await releaseExpiredReservations(orm().em, later)).toBe(0);
  });

  it('leaves reservations that have not expired alone', async () => {
    const productId = await createProduct(orm(), 10);
    await inventory.reserve.mutate({ orderId: newOrderId(), productId, quantity: 2, ttlSeconds: 3600 });
    expect(await releaseExpiredReservations(orm().em, new Date())).toBe(0);
    expect(await stockOf(orm(), productId)).toEqual({ stock_on_hand: 10, stock_reserved: 2 });
  });
});
