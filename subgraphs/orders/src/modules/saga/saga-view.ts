import type { OrderEntity } from '../order/order.entity.ts';
import { OrderStatus } from '../order/order.entity.ts';
import type { SagaStepEntity } from './saga-step.entity.ts';

/** A saga as GraphQL shows it: the order it belongs to; steps and runtime status are resolved lazily. */
export interface SagaView {
  order: OrderEntity;
}

export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPLETED' | 'COMPENSATED' | 'NEEDS_ATTENTION';

/** The saga's status, from its order's status and whether a compensation step has started. */
export function sagaStatus(order: OrderEntity, steps: readonly SagaStepEntity[]): SagaStatus {
  switch (order.status) {
    case OrderStatus.CONFIRMED:
      return 'COMPLETED';
    case OrderStatus.CANCELLED:
      return 'COMPENSATED';
    case OrderStatus.NEEDS_ATTENTION:
      return 'NEEDS_ATTENTION';
    case OrderStatus.PENDING:
      return steps.some((step) => step.compensation) ? 'COMPENSATING' : 'RUNNING';
  }
}

/** The order statuses a saga status filter selects (COMPENSATING and RUNNING both mean a PENDING order). */
export const orderStatusesFor = (status: SagaStatus): string[] =>
  ({ COMPLETED: [OrderStatus.CONFIRMED], COMPENSATED: [OrderStatus.CANCELLED], NEEDS_ATTENTION: [OrderStatus.NEEDS_ATTENTION], RUNNING: [OrderStatus.PENDING], COMPENSATING: [OrderStatus.PENDING] })[status];
