import type { VerifierOptions } from '@pact-foundation/pact';
import { z } from 'zod';
import { createClientCredentialsTokenSource } from '@agora/auth';
import { startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../../../subgraphs/inventory/src/context.ts';
import { Product } from '../../../subgraphs/inventory/src/modules/product/product.entity.ts';
import { releaseReservations } from '../../../subgraphs/inventory/src/modules/reservation/release-reservations.ts';
import { Reservation } from '../../../subgraphs/inventory/src/modules/reservation/reservation.entity.ts';
import { reserveStock } from '../../../subgraphs/inventory/src/modules/reservation/reserve-stock.ts';
import { createInventorySubgraph } from '../../../subgraphs/inventory/src/subgraph.ts';
import { SERVICE_CLIENT } from '../src/service-client.ts';
import { InventoryState } from '../src/states.ts';

// Inventory as a provider, shared by provider-inventory.test.ts and breaking-change.test.ts: the
// real service on its own PostgreSQL database, each provider state set up through inventory's own
// entities and use cases, and a real service token for every request.

export interface InventoryProvider {
  subgraph: TestSubgraph<Context>;
  baseUrl: string;
  token: () => Promise<string>;
  stateHandlers: NonNullable<VerifierOptions['stateHandlers']>;
  close(): Promise<void>;
}

const productParams = z.object({ productId: z.uuid(), available: z.number().int().nonnegative().default(10) });
const orderParams = z.object({ orderId: z.uuid(), productId: z.uuid(), quantity: z.number().int().positive() });

export async function startInventoryProvider(): Promise<InventoryProvider> {
  const subgraph = await startTestSubgraph(createInventorySubgraph());
  const em = () => subgraph.service.orm.em.fork();
  const tokens = createClientCredentialsTokenSource({ issuer: subgraph.issuer.issuer, ...SERVICE_CLIENT });

  /** The product exists with exactly `available` units on hand and nothing reserved. */
  async function resetProduct(productId: string, available: number): Promise<void> {
    const fork = em();
    await fork.nativeDelete(Reservation, { product: productId });
    const product = await fork.findOne(Product, { id: productId });
    if (product) Object.assign(product, { stockOnHand: available, stockReserved: 0 });
    else fork.create(Product, { id: productId, sku: `PACT-${productId.slice(-8)}`, name: 'Contract product', description: 'Made by a provider state.', priceAmount: 8900, currency: 'EUR', stockOnHand: available, stockReserved: 0 });
    await fork.flush();
  }

  /** The order holds a reservation of `quantity` units of the product, made by inventory's reserve. */
  async function reserve(params: unknown): Promise<{ orderId: string }> {
    const { orderId, productId, quantity } = orderParams.parse(params);
    await em().nativeDelete(Reservation, { orderId });
    await resetProduct(productId, quantity + 10);
    await reserveStock(subgraph.service.orm.em, { orderId, productId, quantity, ttlSeconds: 900 }, { lowStockThreshold: 5, now: new Date() });
    return { orderId };
  }

  return {
    subgraph,
    baseUrl: `http://127.0.0.1:${subgraph.service.port}`,
    token: () => tokens.token(),
    stateHandlers: {
      [InventoryState.PRODUCT_AVAILABLE]: async (params) => {
        const { productId, available } = productParams.parse(params);
        await resetProduct(productId, available);
      },
      [InventoryState.NO_PRODUCT]: async (params) => {
        const { productId } = productParams.pick({ productId: true }).parse(params);
        await em().nativeDelete(Reservation, { product: productId });
        await em().nativeDelete(Product, { id: productId });
      },
      [InventoryState.ORDER_RESERVED]: async (params) => {
        await reserve(params);
      },
      [InventoryState.ORDER_RELEASED]: async (params) => {
        const { orderId } = await reserve(params);
        await releaseReservations(subgraph.service.orm.em, { orderId, reason: 'payment declined' }, new Date());
      },
      [InventoryState.ORDER_WITHOUT_RESERVATIONS]: async (params) => {
        const { orderId } = orderParams.pick({ orderId: true }).parse(params);
        await em().nativeDelete(Reservation, { orderId });
      },
    },
    close: () => subgraph.close(),
  };
}
