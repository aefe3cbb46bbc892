import type { OrderLineResolvers } from '../__generated__/resolvers-types.ts';
import { lineTotal } from '../modules/order/order-line.entity.ts';

export const OrderLine: OrderLineResolvers = {
  product: (line) => ({ id: line.productId }),
  unitPrice: (line) => ({ amount: line.unitPriceAmount, currency: line.order.currency }),
  lineTotal: (line) => ({ amount: lineTotal(line), currency: line.order.currency }),
};
