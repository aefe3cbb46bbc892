import { randomBytes, randomUUID } from 'node:crypto';
import type { TRPCClient } from '@trpc/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { internalApiClient } from '@agora/testing';
import type { InventoryRouter } from '../src/internal/router.ts';
import { Product } from '../src/modules/product/product.entity.ts';

/** A tRPC client straight at the subgraph's /trpc (no sidecar), sending `token` when it gives one. */
export const inventoryClient = (graphqlUrl: string, token: () => Promise<string | undefined>): TRPCClient<InventoryRouter> => internalApiClient<InventoryRouter>(graphqlUrl, token);

export { failureOf, serviceClient, serviceTokenOf, type InternalClientError as ClientError } from '@agora/testing';

/** A new product with `stock` units on hand and none reserved. */
export async function createProduct(orm: MikroORM, stock: number): Promise<string> {
  const em = orm.em.fork();
  const product = em.create(Product, {
    sku: `T-${randomBytes(6).toString('hex')}`,
    name: 'Test product',
    description: 'Made by a test.',
    priceAmount: 1000,
    currency: 'EUR',
    stockOnHand: stock,
    stockReserved: 0,
  });
  await em.flush();
  return product.id;
}

export interface StockRow {
  stock_on_hand: number;
  stock_reserved: number;
}

export async function stockOf(orm: MikroORM, productId: string): Promise<StockRow> {
  const [row] = await orm.em.fork().execute<StockRow[]>('select "stock_on_hand", "stock_reserved" from "products" where "id" = ?', [productId]);
  if (!row) throw new Error(`no product ${productId}`);
  return row;
}

export interface ReservationRow {
  order_id: string;
  status: string;
  quantity: number;
  release_reason: string | null;
}

export const reservationsOf = (orm: MikroORM, productId: string): Promise<ReservationRow[]> =>
  orm.em.fork().execute<ReservationRow[]>('select "order_id", "status", "quantity", "release_reason" from "reservations" where "product_id" = ? order by "created_at"', [productId]);

export interface OutboxRow {
  type: string;
  subject: string | null;
  source: string;
  topic: string;
  data: Record<string, unknown>;
}

/** Outbox events about a product (stock events name the product as their subject). */
export const eventsAbout = (orm: MikroORM, productId: string): Promise<OutboxRow[]> =>
  orm.em.fork().execute<OutboxRow[]>('select "type", "subject", "source", "topic", "data" from "outbox_events" where "subject" = ? order by "created_at", "type"', [productId]);

export const newOrderId = (): string => randomUUID();

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
