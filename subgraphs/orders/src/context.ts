import type { WorkflowState } from '@dapr/dapr';
import { byIdLoader, byKeyLoader, DomainError, ErrorCode, perKeyLoader, type BaseContext, type Loader } from '@agora/service';
import { Order, type OrderEntity } from './modules/order/order.entity.ts';
import type { OrderRepository } from './modules/order/order.repository.ts';
import { sagaStepsOf } from './modules/saga/saga-queries.ts';
import type { SagaStepEntity } from './modules/saga/saga-step.entity.ts';
import type { Commerce } from './saga/commerce.ts';

export interface Context extends BaseContext {
  orders: OrderRepository;
  orderById: Loader<string, OrderEntity | null>;
  /** The saga steps of orders, one query for every saga a response shows. */
  sagaStepsByOrderId: Loader<string, SagaStepEntity[]>;
  /** The workflow engine's state of a saga (by order id), asked once per request however many fields need it. */
  workflowState: Loader<string, WorkflowState | undefined>;
  /** Carts, placement and sagas: there only when the service runs beside a Dapr sidecar. */
  commerce(): Commerce;
}

export const buildContext =
  (commerce: () => Commerce | undefined) =>
  (base: BaseContext): Context => {
    const running = (): Commerce => {
      const started = commerce();
      if (!started) throw new DomainError(ErrorCode.INTERNAL_SERVER_ERROR, 'carts and orders need the Dapr sidecar: set DAPR_HTTP_PORT and DAPR_GRPC_PORT (the launcher and `dapr run` do)');
      return started;
    };
    return {
      ...base,
      orders: base.em.getRepository(Order),
      orderById: byIdLoader(base.em, Order, { populate: ['lines'] }),
      sagaStepsByOrderId: byKeyLoader((orderIds) => sagaStepsOf(base.em, orderIds), (step) => step.orderId),
      workflowState: perKeyLoader((orderId) => running().workflows.getWorkflowState(orderId, true)),
      commerce: running,
    };
  };
