import { audit, badInput, checkIdempotencyKey, DomainError, ErrorCode, parseId, requestFingerprint, requireAdmin, requireCaller } from '@agora/service';
import { participantFailure } from '@agora/internal-api';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';
import type { Context } from '../context.ts';
import { checkQuantity, madeBefore, withAdded, withQuantity } from '../modules/cart/cart.ts';
import { findOrder } from '../modules/order/find-order.ts';
import { OrderStatus } from '../modules/order/order.entity.ts';
import { SagaEvent } from '../saga/contract.ts';
import { placeOrder, startSaga } from '../saga/order-placement.ts';

/** Checks that the product exists and that the cart's new quantity is in stock now (the saga checks again). */
async function checkAvailable(ctx: Context, productId: string, quantity: number): Promise<void> {
  if (quantity === 0) return;
  const { products } = await ctx
    .commerce()
    .inventory.quote.query({ productIds: [productId] })
    .catch((error: unknown) => {
      throw participantFailure('inventory', error, { NOT_FOUND: () => new DomainError(ErrorCode.NOT_FOUND, `Product ${productId} was not found`, { id: productId }) });
    });
  const available = products[0]?.available ?? 0;
  if (quantity > available) throw new DomainError(ErrorCode.OUT_OF_STOCK, `only ${available} in stock`, { productId, available });
}

export const Mutation: MutationResolvers = {
  async addToCart(_parent, { productId, quantity, idempotencyKey }, ctx) {
    checkQuantity(quantity, false);
    const caller = requireCaller(ctx.caller);
    const id = parseId(productId);
    const request = idempotencyKey ? { key: checkIdempotencyKey(idempotencyKey), fingerprint: requestFingerprint({ productId: id, quantity }) } : undefined;
    const read = await ctx.commerce().carts.read(caller.sub);
    // A resent change is answered before the stock check, which its first sending may now fail.
    if (request && madeBefore(read.cart, request)) return { lines: read.cart.lines };
    await checkAvailable(ctx, id, (read.cart.lines.find((line) => line.productId === id)?.quantity ?? 0) + quantity);
    return ctx.commerce().carts.update(caller.sub, (lines) => withAdded(lines, id, quantity), { request, read });
  },

  async setCartQuantity(_parent, { productId, quantity }, ctx) {
    checkQuantity(quantity, true);
    const caller = requireCaller(ctx.caller);
    await checkAvailable(ctx, parseId(productId), quantity);
    return ctx.commerce().carts.update(caller.sub, (lines) => withQuantity(lines, productId, quantity));
  },

  async removeFromCart(_parent, { productId }, ctx) {
    const caller = requireCaller(ctx.caller);
    return ctx.commerce().carts.update(caller.sub, (lines) => withQuantity(lines, productId, 0));
  },

  async placeOrder(_parent, { input, idempotencyKey }, ctx) {
    const caller = requireCaller(ctx.caller);
    return placeOrder(ctx.commerce(), caller.sub, input, idempotencyKey);
  },

  async cancelOrder(_parent, { id }, ctx) {
    const order = await findOrder(ctx, id);
    if (order.status !== OrderStatus.PENDING) throw new DomainError(ErrorCode.CONFLICT, `order ${order.id} is ${order.status} and can no longer be cancelled`);
    await ctx.commerce().workflows.raiseEvent(order.id, SagaEvent.CANCEL_REQUESTED, { by: ctx.caller?.sub });
    return order;
  },

  async retrySaga(_parent, { orderId }, ctx) {
    const admin = requireAdmin(ctx.caller, { log: ctx.log, action: 'orders.retrySaga', resource: `order:${orderId}` });
    const order = await findOrder(ctx, orderId);
    const commerce = ctx.commerce();
    const state = await commerce.workflows.getWorkflowState(order.id, false);
    const status = state?.runtimeStatus;
    // A finished saga that did not reach a final order status (it failed or was terminated), or one never started.
    if (state && order.status !== OrderStatus.NEEDS_ATTENTION && ![3, 5].includes(Number(status))) {
      throw new DomainError(ErrorCode.CONFLICT, `the saga of order ${order.id} is ${String(status)}; only failed, terminated or escalated sagas can be retried`);
    }
    if (order.status === OrderStatus.CONFIRMED || order.status === OrderStatus.CANCELLED) throw new DomainError(ErrorCode.CONFLICT, `order ${order.id} is already ${order.status}`);
    if (state) await commerce.workflows.purgeWorkflow(order.id);
    if (order.status === OrderStatus.NEEDS_ATTENTION) {
      order.status = OrderStatus.PENDING;
      order.statusReason = 'retried by an admin';
      await ctx.em.flush();
    }
    await startSaga(commerce, order);
    audit(ctx.log, { action: 'orders.retrySaga', outcome: 'succeeded', actor: admin, resource: `order:${order.id}` });
    return { order };
  },

  async compensateSaga(_parent, { orderId }, ctx) {
    const admin = requireAdmin(ctx.caller, { log: ctx.log, action: 'orders.compensateSaga', resource: `order:${orderId}` });
    const order = await findOrder(ctx, orderId);
    if (order.status !== OrderStatus.PENDING) throw badInput(`order ${order.id} is ${order.status}; only a running saga can be compensated`);
    await ctx.commerce().workflows.raiseEvent(order.id, SagaEvent.CANCEL_REQUESTED, { by: ctx.caller?.sub, admin: true });
    audit(ctx.log, { action: 'orders.compensateSaga', outcome: 'succeeded', actor: admin, resource: `order:${order.id}` });
    return { order };
  },
};

