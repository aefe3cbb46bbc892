import { startOutboxRelay, type OutboxRelay } from '@agora/events';
import { registerInternalApi } from '@agora/internal-api';
import { loadTypeDefs, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import type { InventoryEnv } from './env.ts';
import { inventoryRouter } from './internal/router.ts';
import { startReservationExpiry } from './modules/reservation/expire-reservations.ts';
import { resolvers } from './resolvers/index.ts';

/** Settings beyond the common subgraph ones (see env.ts); tests may pass a short sweep interval. */
export type InventoryOptions = Partial<Pick<InventoryEnv, 'DAPR_HTTP_PORT' | 'LOW_STOCK_THRESHOLD' | 'RESERVATION_SWEEP_INTERVAL_MS'>>;

/**
 * The inventory subgraph with its internal API (/trpc) and the reservation expiry sweep; with the
 * sidecar's port (DAPR_HTTP_PORT) its outbox relay publishes stock events, without it they wait
 * in the outbox.
 */
export function createInventorySubgraph(options: InventoryOptions = {}): SubgraphModule<Context> {
  return {
    name: 'inventory',
    typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    database,
    context: buildContext,
    async extend({ app, orm, verifier, logger }) {
      let relay: OutboxRelay | undefined;
      await registerInternalApi(app, inventoryRouter({ em: orm.em, lowStockThreshold: options.LOW_STOCK_THRESHOLD ?? 5 }), { verifier, logger });
      if (options.DAPR_HTTP_PORT === undefined) logger.info('DAPR_HTTP_PORT is not set: stock events stay in the outbox until a relay runs');
      else relay = startOutboxRelay({ orm, daprHttpPort: options.DAPR_HTTP_PORT, service: 'inventory', logger });
      const expiry = startReservationExpiry({ em: orm.em, intervalMs: options.RESERVATION_SWEEP_INTERVAL_MS ?? 5_000, logger });
      return async () => {
        await expiry.stop();
        await relay?.stop();
      };
    },
  };
}

/** Without a sidecar: what tests of GraphQL and the internal API use. */
export const inventorySubgraph = createInventorySubgraph();
