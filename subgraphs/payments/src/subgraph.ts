import type { FastifyInstance } from 'fastify';
import { startOutboxRelay, type OutboxRelay } from '@agora/events';
import { registerInternalApi } from '@agora/internal-api';
import { loadTypeDefs, type SubgraphModule } from '@agora/service';
import { buildContext, type Context } from './context.ts';
import { database } from './database.ts';
import { paymentsSettings, type PaymentsSettings } from './env.ts';
import { createPaymentsRouter } from './internal/router.ts';
import { watchBreaker } from './modules/provider/breaker-metrics.ts';
import { guardProvider, type GuardedPaymentProvider } from './modules/provider/provider-breaker.ts';
import { registerSimulatedProviderRoutes } from './modules/provider/simulated/simulated-provider.routes.ts';
import { createSimulatedProvider, type SimulatedPaymentProvider } from './modules/provider/simulated/simulated-provider.ts';
import { resolvers } from './resolvers/index.ts';
import { registerProviderWebhook, WEBHOOK_PATH } from './webhooks/payment-provider.route.ts';

/** What runs beside GraphQL once payments has started: the provider (behind its breaker) and the simulated provider itself. */
export interface PaymentsRuntime {
  provider: GuardedPaymentProvider;
  simulatedProvider: SimulatedPaymentProvider;
}

export interface PaymentsSubgraph extends SubgraphModule<Context> {
  /** The running service's provider and breaker (for tests and metrics); throws before start. */
  runtime(): PaymentsRuntime;
}

/**
 * The payments subgraph with its internal API (/trpc), the provider webhook and the simulated
 * provider; with the sidecar's port (DAPR_HTTP_PORT) its outbox relay publishes payment events,
 * without it they wait in the outbox.
 */
export function createPaymentsSubgraph(settings: PaymentsSettings = paymentsSettings()): PaymentsSubgraph {
  let runtime: PaymentsRuntime | undefined;
  return {
    name: 'payments',
    typeDefs: loadTypeDefs(new URL('../schema.graphql', import.meta.url)),
    resolvers,
    database,
    context: buildContext,
    async extend({ app, orm, verifier, logger, env }) {
      const simulatedProvider = createSimulatedProvider({
        orm,
        logger,
        webhookUrl: () => `${ownUrl(app)}${WEBHOOK_PATH}`,
        webhookSecret: settings.PAYMENT_WEBHOOK_SECRET,
        confirmation: { delayMs: settings.SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS, mode: settings.SIMULATED_PROVIDER_CONFIRMATION },
      });
      const provider = guardProvider(
        simulatedProvider,
        {
          timeoutMs: settings.PAYMENT_PROVIDER_TIMEOUT_MS,
          errorThresholdPercentage: settings.PAYMENT_BREAKER_ERROR_THRESHOLD_PERCENTAGE,
          resetTimeoutMs: settings.PAYMENT_BREAKER_RESET_TIMEOUT_MS,
          volumeThreshold: settings.PAYMENT_BREAKER_VOLUME_THRESHOLD,
          rollingWindowMs: settings.PAYMENT_BREAKER_ROLLING_WINDOW_MS,
          maxConcurrentCalls: settings.PAYMENT_PROVIDER_MAX_CONCURRENT_CALLS,
          retryAfterMs: settings.PAYMENT_PROVIDER_RETRY_AFTER_MS ?? settings.PAYMENT_BREAKER_ROLLING_WINDOW_MS,
        },
        logger,
      );
      watchBreaker('payment-provider', provider);
      let relay: OutboxRelay | undefined;
      const deps = { orm, provider, logger };
      await registerInternalApi(app, createPaymentsRouter(deps), { verifier, logger });
      await registerProviderWebhook(app, { deps, secret: settings.PAYMENT_WEBHOOK_SECRET, toleranceSeconds: settings.PAYMENT_WEBHOOK_TOLERANCE_SECONDS });
      if (env.NODE_ENV !== 'production') await registerSimulatedProviderRoutes(app, simulatedProvider, verifier);
      if (settings.DAPR_HTTP_PORT === undefined) logger.info('DAPR_HTTP_PORT is not set: payment events stay in the outbox until a relay runs');
      else relay = startOutboxRelay({ orm, daprHttpPort: settings.DAPR_HTTP_PORT, service: 'payments', logger });
      await simulatedProvider.resume();
      runtime = { provider, simulatedProvider };
      return async () => {
        await simulatedProvider.stop();
        provider.shutdown();
        await relay?.stop();
      };
    },
    runtime() {
      if (!runtime) throw new Error('the payments subgraph has not started');
      return runtime;
    },
  };
}

/** The app's own base URL once it listens (the simulated provider posts its webhooks there). */
function ownUrl(app: FastifyInstance): string {
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the payments app is not listening');
  const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

export const paymentsSubgraph = createPaymentsSubgraph();
