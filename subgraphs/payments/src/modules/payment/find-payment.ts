import { notFound, parseId, requireCaller, requireOwnerOrAdmin } from '@agora/service';
import type { Context } from '../../context.ts';
import type { PaymentEntity } from './payment.entity.ts';

/** The payment with this id, if the caller made it or is an admin. */
export async function findPayment(ctx: Context, id: string): Promise<PaymentEntity> {
  requireCaller(ctx.caller);
  const payment = await ctx.paymentById.load(parseId(id));
  if (!payment) throw notFound('Payment', id);
  requireOwnerOrAdmin(ctx.caller, payment.customerId, { log: ctx.log, action: 'payments.payment.read', resource: `payment:${payment.id}` });
  return payment;
}

/** The payment of an order, if any, when the caller made it or is an admin. */
export async function findPaymentOfOrder(ctx: Context, orderId: string): Promise<PaymentEntity | null> {
  requireCaller(ctx.caller);
  const [payment] = await ctx.paymentsByOrderId.load(orderId);
  if (!payment) return null;
  requireOwnerOrAdmin(ctx.caller, payment.customerId, { log: ctx.log, action: 'payments.payment.read', resource: `payment:${payment.id}` });
  return payment;
}
