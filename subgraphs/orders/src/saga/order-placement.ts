import { randomUUID } from 'node:crypto';
import type { DaprWorkflowClient } from '@dapr/dapr';
import { UniqueConstraintViolationException, type EntityManager, type MikroORM } from '@mikro-orm/postgresql';
import type { TRPCClient } from '@trpc/client';
import { enqueueEvent } from '@agora/events';
import { isPaymentMethod, participantFailure, PAYMENT_METHODS } from '@agora/internal-api';
import { badInput, checkIdempotencyKey, DomainError, ErrorCode, parseId, requestFingerprint, type Logger } from '@agora/service';
import { currentTraceparent } from '@agora/telemetry';
import type { InventoryRouter } from '../../../inventory/src/internal/router.ts';
import { checkQuantity, type CartItem, type CartRead, type CartStore } from '../modules/cart/cart.ts';
import type { StateClient } from '../modules/cart/state-client.ts';
import { OrderLine } from '../modules/order/order-line.entity.ts';
import { Order, OrderStatus, type OrderEntity } from '../modules/order/order.entity.ts';
import { ORDER_SAGA, type SagaInput } from './contract.ts';

// placeOrder: the cart becomes a PENDING order, priced by inventory (never by the client), and
// the OrderSaga starts with the order id as its instance id. The idempotency key makes a retried
// or concurrent request answer the same order: a create-only record in the state store (with a
// TTL) claims the key and names the order id before anything else happens.

export interface PlacementDeps {
  orm: MikroORM;
  carts: CartStore;
  state: StateClient;
  inventory: TRPCClient<InventoryRouter>;
  workflows: DaprWorkflowClient;
  logger: Logger;
  settings: { idempotencyTtlSeconds: number; paymentConfirmationTimeoutSeconds: number; stepTimeoutSeconds: number };
}

interface IdempotencyRecord {
  fingerprint: string;
  orderId: string;
}

export interface PlaceOrderInput {
  paymentMethod: string;
  /** "Buy now": these lines instead of the cart. */
  lines?: { productId: string; quantity: number }[] | null | undefined;
}

/** The lines to order: the given ones (checked, merged per product) or the cart's, sorted by product. */
async function linesToOrder(deps: PlacementDeps, userId: string, input: PlaceOrderInput): Promise<{ lines: CartItem[]; cartRead?: CartRead & { etag: string } }> {
  if (input.lines) {
    if (input.lines.length === 0 || input.lines.length > 50) throw badInput('lines must hold 1 to 50 products');
    const merged = new Map<string, number>();
    for (const line of input.lines) {
      checkQuantity(line.quantity, false);
      const id = parseId(line.productId);
      merged.set(id, (merged.get(id) ?? 0) + line.quantity);
    }
    for (const quantity of merged.values()) checkQuantity(quantity, false);
    return { lines: [...merged].map(([productId, quantity]) => ({ productId, quantity })).sort((a, b) => a.productId.localeCompare(b.productId)) };
  }
  const { cart, etag } = await deps.carts.read(userId);
  return { lines: [...cart.lines].sort((a, b) => a.productId.localeCompare(b.productId)), ...(etag ? { cartRead: { cart, etag } } : {}) };
}

export async function placeOrder(deps: PlacementDeps, userId: string, input: PlaceOrderInput, idempotencyKey: string): Promise<OrderEntity> {
  checkIdempotencyKey(idempotencyKey);
  // Checked before the key is claimed: an unknown method creates nothing (no record, order or saga).
  if (!isPaymentMethod(input.paymentMethod)) throw badInput(`unknown payment method ${JSON.stringify(input.paymentMethod)}; use one of ${PAYMENT_METHODS.join(', ')}`, { paymentMethod: input.paymentMethod });
  const { lines, cartRead } = await linesToOrder(deps, userId, input);
  const recordKey = `placeorder-${userId}-${idempotencyKey}`;
  if (lines.length === 0) {
    // The cart may be empty because this key's order emptied it (a concurrent or repeated request): answer that order.
    const { value: existing } = await deps.state.get<IdempotencyRecord>(recordKey);
    if (existing) return replay(deps, existing.orderId, userId, input.paymentMethod, lines);
    throw badInput('the cart is empty');
  }
  const fingerprint = requestFingerprint({ lines, paymentMethod: input.paymentMethod });

  const claim: IdempotencyRecord = { fingerprint, orderId: randomUUID() };
  if (!(await deps.state.saveIfUnchanged(recordKey, claim, undefined, deps.settings.idempotencyTtlSeconds))) {
    const { value: existing } = await deps.state.get<IdempotencyRecord>(recordKey);
    if (!existing) throw new DomainError(ErrorCode.CONFLICT, 'this idempotency key is being used by another request; retry');
    if (existing.fingerprint !== fingerprint) {
      throw new DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'this idempotency key was used for a different order; use a new key for a new order');
    }
    return replay(deps, existing.orderId, userId, input.paymentMethod, lines);
  }

  let order: OrderEntity;
  try {
    order = await createOrder(deps, claim.orderId, userId, lines, input.paymentMethod);
  } catch (error) {
    // A retry of this request created the order under the claimed id first (see replay): answer it.
    if (error instanceof UniqueConstraintViolationException) return replay(deps, claim.orderId, userId, input.paymentMethod, lines);
    // Nothing was created: free the key so that the same request can be retried.
    const { etag: recordEtag } = await deps.state.get<IdempotencyRecord>(recordKey);
    if (recordEtag) await deps.state.deleteIfUnchanged(recordKey, recordEtag).catch(() => undefined);
    throw error;
  }
  await startSaga(deps, order);
  if (cartRead) await deps.carts.clear(userId, cartRead).catch((error: unknown) => deps.logger.warn({ err: error, userId }, 'could not empty the cart after placing an order'));
  return order;
}

/** The PENDING order, priced by inventory's quote, with its agora.order.placed.v1 event, in one transaction. */
export async function createOrder(deps: Pick<PlacementDeps, 'orm' | 'inventory'>, orderId: string, userId: string, lines: { productId: string; quantity: number }[], paymentMethod: string): Promise<OrderEntity> {
  let quote: Awaited<ReturnType<TRPCClient<InventoryRouter>['quote']['query']>>;
  try {
    quote = await deps.inventory.quote.query({ productIds: lines.map((line) => line.productId) });
  } catch (error) {
    throw participantFailure('inventory', error, { NOT_FOUND: (message) => badInput(`the cart holds products that no longer exist: ${message}`) });
  }
  const prices = new Map(quote.products.map((product) => [product.productId, product.unitPrice]));
  const currencies = new Set(quote.products.map((product) => product.unitPrice.currency));
  if (currencies.size !== 1) throw badInput('the products in the cart are priced in different currencies; order them separately');
  const [currency] = [...currencies];
  const order = await deps.orm.em.fork().transactional(async (em: EntityManager) => {
    const created = em.create(Order, { id: orderId, customerId: userId, status: OrderStatus.PENDING, totalAmount: 0, currency: currency ?? 'EUR', paymentMethod, statusReason: null });
    let total = 0;
    for (const line of lines) {
      const price = prices.get(line.productId);
      if (!price) throw badInput(`product ${line.productId} has no price`);
      em.create(OrderLine, { order: created, productId: line.productId, quantity: line.quantity, unitPriceAmount: price.amount });
      total += price.amount * line.quantity;
    }
    created.totalAmount = total;
    enqueueEvent(em, {
      type: 'agora.order.placed.v1',
      service: 'orders',
      subject: orderId,
      data: { orderId, userId, total: { amount: total, currency: created.currency }, lines: lines.map((line) => ({ ...line, unitPrice: prices.get(line.productId) ?? { amount: 0, currency: created.currency } })) },
    });
    return created;
  });
  return order;
}

export function sagaInput(deps: Pick<PlacementDeps, 'settings'>, order: OrderEntity): SagaInput {
  return {
    orderId: order.id,
    userId: order.customerId,
    lines: order.lines.getItems().map((line) => ({ productId: line.productId, quantity: line.quantity })),
    total: { amount: order.totalAmount, currency: order.currency },
    paymentMethod: order.paymentMethod ?? 'pm_card_visa',
    settings: { paymentConfirmationTimeoutSeconds: deps.settings.paymentConfirmationTimeoutSeconds, stepTimeoutSeconds: deps.settings.stepTimeoutSeconds },
    traceparent: currentTraceparent(),
  };
}

/** Starts the order's saga unless it already runs (a replayed request, or a restart between commit and start); true when this call started it. */
export async function startSaga(deps: Pick<PlacementDeps, 'workflows' | 'settings' | 'logger'>, order: OrderEntity): Promise<boolean> {
  const existing = await deps.workflows.getWorkflowState(order.id, false);
  if (existing) return false;
  try {
    await deps.workflows.scheduleNewWorkflow(ORDER_SAGA, sagaInput(deps, order), order.id);
    return true;
  } catch (error) {
    // A concurrent replay started it first.
    if (!/already exists/.test(error instanceof Error ? error.message : String(error))) throw error;
    return false;
  }
}

/**
 * The order a claimed key names. When it does not exist (the first request is still creating it,
 * or died after claiming the key), this request creates it under the claimed id: the order's
 * primary key lets exactly one of them succeed, and the other answers the winner's order. A key is
 * thus never stuck until its record expires.
 */
async function replay(deps: PlacementDeps, orderId: string, userId: string, paymentMethod: string, lines: CartItem[]): Promise<OrderEntity> {
  const existing = (): Promise<OrderEntity | null> => deps.orm.em.fork().findOne(Order, { id: orderId }, { populate: ['lines'] });
  let order: OrderEntity | null = await existing();
  if (!order) {
    if (lines.length === 0) throw badInput('the cart is empty');
    try {
      order = await createOrder(deps, orderId, userId, lines, paymentMethod);
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      order = await existing();
      if (!order) throw error;
    }
  }
  if (order.customerId !== userId || order.paymentMethod !== paymentMethod) throw new DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'this idempotency key was used for a different order');
  await startSaga(deps, order);
  return order;
}
