import { loadTypeDefs, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import type { OrdersEnv } from './env.ts';
import { resolvers } from './resolvers/index.ts';
import { startCommerce, type Commerce } from './saga/commerce.ts';

/**
 * The orders subgraph. With the sidecar's ports in `env` it also runs carts, placement and the
 * OrderSaga workflow; without them it serves reads only.
 */
export function createOrdersSubgraph(env: OrdersEnv | undefined): SubgraphModule<Context> {
  let commerce: Commerce | undefined;
  return {
    name: 'orders',
    typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    database,
    context: buildContext(() => commerce),
    async extend(parts) {
      if (env?.DAPR_HTTP_PORT === undefined || env.DAPR_GRPC_PORT === undefined) {
        parts.logger.warn('DAPR_HTTP_PORT or DAPR_GRPC_PORT is not set: carts, placeOrder and sagas are off');
        return undefined;
      }
      // Carts, placeOrder and every saga need the sidecar: without it orders cannot serve its mutations.
      const sidecarHealth = `http://127.0.0.1:${env.DAPR_HTTP_PORT}/v1.0/healthz/outbound`;
      parts.requireForReadiness('dapr sidecar', async () => {
        const response = await fetch(sidecarHealth, { signal: AbortSignal.timeout(2_000) });
        if (!response.ok) throw new Error(`${sidecarHealth} answered ${response.status}`);
      });
      const started = await startCommerce(parts, env, env.DAPR_HTTP_PORT, env.DAPR_GRPC_PORT);
      commerce = started;
      return () => started.stop();
    },
  };
}

/** Reads only (no sidecar): what tests of the GraphQL reads use. */
export const ordersSubgraph = createOrdersSubgraph(undefined);
