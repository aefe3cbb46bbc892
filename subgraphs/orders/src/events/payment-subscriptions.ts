import type { DaprWorkflowClient } from '@dapr/dapr';
import { defineSubscription, type EventSubscription } from '@agora/events';
import { SagaEvent } from '../saga/contract.ts';

/** The consumer name in processed_events. */
export const SAGA_EVENTS_CONSUMER = 'orders.saga';

/**
 * The provider's asynchronous answer reaches payments by webhook, then the order's saga as an
 * external event (docs/adr/0012-order-saga.md). An outcome that was the answer to the charge
 * itself (`awaitedConfirmation: false`) already reached the saga as the charge step's result:
 * raising it too would only wake the workflow for nothing, so the sidecar does not deliver it.
 */
export function paymentSubscriptions(workflows: Pick<DaprWorkflowClient, 'raiseEvent'>): EventSubscription[] {
  return [
    defineSubscription({
      types: ['agora.payment.succeeded.v1', 'agora.payment.failed.v1'],
      topic: 'payments',
      route: '/events/payments',
      skipWhen: { awaitedConfirmation: false },
      async handle(event) {
        const name = event.type === 'agora.payment.succeeded.v1' ? SagaEvent.PAYMENT_CONFIRMED : SagaEvent.PAYMENT_FAILED;
        try {
          await workflows.raiseEvent(event.data.orderId, name, { paymentId: event.data.paymentId });
        } catch (error) {
          // A saga that already finished (or never ran here) has nobody waiting: nothing to do.
          if (/no workflow instance|cannot receive events/.test(error instanceof Error ? error.message : String(error))) return;
          throw error;
        }
      },
    }),
  ];
}
