import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { domainFailure, internalProcedure, internalRouter } from '@agora/internal-api';
import { DomainError } from '@agora/service';
import { quoteProducts } from '../modules/product/quote-products.ts';
import { commitReservations } from '../modules/reservation/commit-reservations.ts';
import { releaseReservations } from '../modules/reservation/release-reservations.ts';
import { reserveStock } from '../modules/reservation/reserve-stock.ts';

// Inventory's commands for the order saga (docs/adr/0009-internal-api.md). Callers import
// `type InventoryRouter` only. Every command is idempotent per (order, product) or per order.

const uuid = z.uuid().transform((id) => id.toLowerCase());

const quoteInput = z.object({
  productIds: z
    .array(uuid)
    .min(1)
    .max(100)
    .refine((ids) => new Set(ids).size === ids.length, 'productIds must be unique'),
});

const reserveInput = z.object({
  orderId: uuid,
  productId: uuid,
  quantity: z.number().int().min(1).max(1000),
  /** Released unless committed within this many seconds. */
  ttlSeconds: z.number().int().min(1).max(86_400).default(900),
});

const commitInput = z.object({ orderId: uuid });

const releaseInput = z.object({ orderId: uuid, reason: z.string().trim().min(1).max(200) });

/** Use cases throw DomainError; callers see it as a tRPC error with `data.domainCode`. */
const participantProcedure = internalProcedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw domainFailure(result.error.cause);
  return result;
});

export interface InventoryRouterDeps {
  /** The ORM's global entity manager; every call works on its own fork. */
  em: EntityManager;
  /** Fewer available units than this after a reserve emits agora.stock.low.v1. */
  lowStockThreshold: number;
  clock?: () => Date;
}

export function inventoryRouter(deps: InventoryRouterDeps) {
  const now = deps.clock ?? (() => new Date());
  return internalRouter({
    /** Current prices and availability, in the order asked; NOT_FOUND (details.productIds) for unknown ids. */
    quote: participantProcedure.input(quoteInput).query(async ({ input }) => ({ products: await quoteProducts(deps.em.fork(), input.productIds) })),

    /** Holds stock for an order line; OUT_OF_STOCK (details.available) when there is not enough. A replay returns the first outcome. */
    reserve: participantProcedure
      .input(reserveInput)
      .mutation(({ input }) => reserveStock(deps.em, input, { lowStockThreshold: deps.lowStockThreshold, now: now() })),

    /** Commits every reservation of the order; CONFLICT when one expired or was released. */
    commit: participantProcedure.input(commitInput).mutation(({ input }) => commitReservations(deps.em, input, now())),

    /** Releases the order's held reservations (compensation); committed ones stay committed. */
    release: participantProcedure.input(releaseInput).mutation(({ input }) => releaseReservations(deps.em, input, now())),
  });
}

export type InventoryRouter = ReturnType<typeof inventoryRouter>;
