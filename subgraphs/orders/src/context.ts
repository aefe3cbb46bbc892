import { byIdLoader, DomainError, ErrorCode, type BaseContext, type Loader } from '@agora/service';
import { Order, type OrderEntity } from './modules/order/order.entity.ts';
import type { OrderRepository } from './modules/order/order.repository.ts';
import type { Commerce } from './saga/commerce.ts';

export interface Context extends BaseContext {
  orders: OrderRepository;
  orderById: Loader<string, OrderEntity | null>;
  /** Carts, placement and sagas: there only when the service runs beside a Dapr sidecar. */
  commerce(): Commerce;
}

export const buildContext =
  (commerce: () => Commerce | undefined) =>
  (base: BaseContext): Context => ({
    ...base,
    orders: base.em.getRepository(Order),
    orderById: byIdLoader(base.em, Order, { populate: ['lines'] }),
    commerce() {
      const running = commerce();
      if (!running) throw new DomainError(ErrorCode.INTERNAL_SERVER_ERROR, 'carts and orders need the Dapr sidecar: set DAPR_HTTP_PORT and DAPR_GRPC_PORT (the launcher and `dapr run` do)');
      return running;
    },
  });
