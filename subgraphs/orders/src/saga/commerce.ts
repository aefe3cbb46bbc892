import { DaprWorkflowClient, LogLevel, WorkflowRuntime } from '@dapr/dapr';
import type { TRPCClient } from '@trpc/client';
import { createClientCredentialsTokenSource } from '@agora/auth';
import { registerEventSubscriptions, startOutboxRelay } from '@agora/events';
import { createInternalClient } from '@agora/internal-api';
import type { SubgraphParts } from '@agora/service';
import type { InventoryRouter } from '../../../inventory/src/internal/router.ts';
import type { PaymentsRouter } from '../../../payments/src/internal/router.ts';
import type { OrdersEnv } from '../env.ts';
import { paymentSubscriptions, SAGA_EVENTS_CONSUMER } from '../events/payment-subscriptions.ts';
import { CartStore } from '../modules/cart/cart.ts';
import { StateClient } from '../modules/cart/state-client.ts';
import { createActivities } from './activities.ts';
import { ORDER_SAGA } from './contract.ts';
import { orderSaga } from './order-saga.ts';
import { startOrphanRecovery } from './orphan-recovery.ts';
import type { PlacementDeps } from './order-placement.ts';

const WORKFLOW_MAX_CONCURRENT_WORK_ITEMS = 32;

/** Everything that needs the sidecar: the cart store, the saga's workflow runtime and client, the participants. */
export interface Commerce extends PlacementDeps {
  payments: TRPCClient<PaymentsRouter>;
  stop(): Promise<void>;
}

export async function startCommerce(parts: SubgraphParts, env: OrdersEnv, daprHttpPort: number, daprGrpcPort: number): Promise<Commerce> {
  const { orm, logger } = parts;
  const state = new StateClient(daprHttpPort, env.STATE_STORE_NAME);
  await state.start();
  const tokens = createClientCredentialsTokenSource({ issuer: env.OIDC_ISSUER_URL, clientId: env.SERVICE_CLIENT_ID, clientSecret: env.SERVICE_CLIENT_SECRET });
  const token = () => tokens.token();
  // Requests (placeOrder's price quote) wait their turn; the saga's activities go through bulkheads
  // (a few may queue) and fail at once when one is full, to be retried on a durable timer.
  const inventory = createInternalClient<InventoryRouter>({ appId: 'inventory', daprHttpPort, token });
  const payments = createInternalClient<PaymentsRouter>({ appId: 'payments', daprHttpPort, token });
  const limits = { maxConcurrentCalls: env.PARTICIPANT_MAX_CONCURRENT_CALLS, maxQueuedCalls: env.PARTICIPANT_MAX_QUEUED_CALLS };
  const participants = {
    inventory: createInternalClient<InventoryRouter>({ appId: 'inventory', daprHttpPort, token, ...limits }),
    payments: createInternalClient<PaymentsRouter>({ appId: 'payments', daprHttpPort, token, ...limits }),
  };
  const sdkOptions = { daprHost: '127.0.0.1', daprPort: String(daprGrpcPort), logger: { level: env.LOG_LEVEL === 'debug' ? LogLevel.Debug : LogLevel.Warn } };
  const workflows = new DaprWorkflowClient(sdkOptions);
  const relay = startOutboxRelay({ orm, daprHttpPort, service: 'orders', logger });

  await registerEventSubscriptions(parts.app, { orm, consumer: SAGA_EVENTS_CONSUMER, logger, subscriptions: paymentSubscriptions(workflows) });

  // As many work items at once as the sidecar hands one worker (dapr/src/workflow/engine.ts): the SDK's
  // default of 10 queued orchestrator steps behind activities waiting on a slow participant.
  const runtime = new WorkflowRuntime({ ...sdkOptions, maxConcurrentWorkItems: WORKFLOW_MAX_CONCURRENT_WORK_ITEMS });
  runtime.registerWorkflowWithName(ORDER_SAGA, orderSaga);
  for (const [name, activity] of Object.entries(createActivities({ orm, ...participants, logger }))) runtime.registerActivityWithName(name, activity);
  await runtime.start();

  const settings = {
    idempotencyTtlSeconds: env.IDEMPOTENCY_TTL_SECONDS,
    paymentConfirmationTimeoutSeconds: env.PAYMENT_CONFIRMATION_TIMEOUT_SECONDS,
    stepTimeoutSeconds: env.SAGA_STEP_TIMEOUT_SECONDS,
  };
  const recovery = startOrphanRecovery({ orm, workflows, settings, logger }, env.SAGA_RECOVERY_INTERVAL_SECONDS);

  return {
    orm,
    carts: new CartStore(state),
    state,
    inventory,
    payments,
    workflows,
    logger,
    settings,
    async stop() {
      await recovery.stop();
      await relay.stop();
      await runtime.stop();
      await workflows.stop();
      await state.stop();
    },
  };
}
