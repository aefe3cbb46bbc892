import { byIdLoader, type BaseContext, type Loader } from '@agora/service';
import { Order, type OrderEntity } from './modules/order/order.entity.ts';
import type { OrderRepository } from './modules/order/order.repository.ts';

export interface Context extends BaseContext {
  orders: OrderRepository;
  orderById: Loader<string, OrderEntity | null>;
}

export const buildContext = (base: BaseContext): Context => ({
  ...base,
  orders: base.em.getRepository(Order),
  orderById: byIdLoader(base.em, Order, { populate: ['lines'] }),
});
