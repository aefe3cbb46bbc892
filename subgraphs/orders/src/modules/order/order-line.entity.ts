import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Order } from './order.entity.ts';

export const OrderLine = defineEntity({
  name: 'OrderLine',
  tableName: 'order_lines',
  checks: [{ name: 'order_lines_quantity_check', expression: 'quantity > 0 and unit_price_amount >= 0' }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    order: () => p.manyToOne(Order).deleteRule('cascade').index(),
    /** A product of the inventory service; its price is copied here when the order is placed. */
    productId: p.uuid(),
    quantity: p.integer(),
    unitPriceAmount: p.integer(),
  },
});

export type OrderLineEntity = InferEntity<typeof OrderLine>;

export const lineTotal = (line: OrderLineEntity): number => line.quantity * line.unitPriceAmount;
