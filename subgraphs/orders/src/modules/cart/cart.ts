import { DomainError, ErrorCode, badInput, parseId } from '@agora/service';
import type { StateClient } from './state-client.ts';

// A customer's cart, kept in the Dapr state store (one key per user) and changed with ETag
// guards: a concurrent change makes the read-modify-write start over, never overwrites it. The
// cart also keeps the idempotency keys of its last changes, written with the change itself, so a
// resent addToCart is recognised even when the first one's answer was lost.

export interface CartItem {
  productId: string;
  quantity: number;
}

/** A change made with an idempotency key: the key and its request's fingerprint. */
export interface CartRequest {
  key: string;
  fingerprint: string;
}

export interface CartContents {
  lines: CartItem[];
  /** The keys of the last MAX_REQUESTS keyed changes, oldest first. */
  requests?: CartRequest[];
}

/** A cart as read, with the ETag that guards a write of it (undefined: no cart yet). */
export interface CartRead {
  cart: CartContents;
  etag: string | undefined;
}

const MAX_LINES = 50;
const MAX_REQUESTS = 50;
const MAX_QUANTITY = 99;
const MAX_ATTEMPTS = 5;

// daprd reserves "||" (its key separator) in keys.
export const cartKey = (userId: string): string => `cart-${userId}`;

/** Checks a quantity for a cart line: 1..99 (0 only where it means "remove"). */
export function checkQuantity(quantity: number, allowZero: boolean): void {
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(quantity) || quantity < min || quantity > MAX_QUANTITY) {
    throw badInput(`quantity must be a whole number from ${min} to ${MAX_QUANTITY} (got ${quantity})`, { quantity });
  }
}

export class CartStore {
  readonly #state: StateClient;

  constructor(state: StateClient) {
    this.#state = state;
  }

  async read(userId: string): Promise<CartRead> {
    const { value, etag } = await this.#state.get<CartContents>(cartKey(userId));
    return { cart: { lines: value?.lines ?? [], requests: value?.requests ?? [] }, etag };
  }

  /**
   * Applies `change` to the current cart and saves it if nobody changed it meanwhile; retries
   * otherwise. With a `request`, a cart that already holds its key is answered as it is (the
   * change was made before), unless the key came with another request: IDEMPOTENCY_KEY_REUSED.
   * `read`: the cart as the caller just read it, used for the first attempt instead of reading again.
   */
  async update(userId: string, change: (lines: CartItem[]) => CartItem[], options: { request?: CartRequest | undefined; read?: CartRead } = {}): Promise<CartContents> {
    const { request } = options;
    let known = options.read;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const { cart, etag } = known ?? (await this.read(userId));
      known = undefined;
      if (request && madeBefore(cart, request)) return { lines: cart.lines };
      const lines = change(cart.lines.map((line) => ({ ...line })));
      if (lines.length > MAX_LINES) throw badInput(`a cart holds at most ${MAX_LINES} different products`);
      const requests = request ? [...(cart.requests ?? []), request].slice(-MAX_REQUESTS) : cart.requests;
      if (await this.#state.saveIfUnchanged<CartContents>(cartKey(userId), { lines, requests }, etag)) return { lines };
    }
    throw new DomainError(ErrorCode.CONFLICT, 'the cart changed concurrently too often; try again');
  }

  /** Empties the cart if it still is the one read with `etag` (lines added since are kept); its change keys stay. */
  async clear(userId: string, read: CartRead & { etag: string }): Promise<void> {
    await this.#state.saveIfUnchanged<CartContents>(cartKey(userId), { lines: [], requests: read.cart.requests }, read.etag);
  }
}

/** True when the cart holds the request's key from an earlier change with the same request; IDEMPOTENCY_KEY_REUSED when with another. */
export function madeBefore(cart: CartContents, request: CartRequest): boolean {
  const earlier = cart.requests?.find((made) => made.key === request.key);
  if (!earlier) return false;
  if (earlier.fingerprint !== request.fingerprint) {
    throw new DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'this idempotency key was used for another cart change; use a new key for a new change');
  }
  return true;
}

/** Sets a product's quantity in the lines (0 removes it). */
export function withQuantity(lines: CartItem[], productId: string, quantity: number): CartItem[] {
  const id = parseId(productId);
  const others = lines.filter((line) => line.productId !== id);
  return quantity === 0 ? others : [...others, { productId: id, quantity }];
}

/** Adds to a product's quantity (creating the line). */
export function withAdded(lines: CartItem[], productId: string, quantity: number): CartItem[] {
  const id = parseId(productId);
  const current = lines.find((line) => line.productId === id)?.quantity ?? 0;
  const total = current + quantity;
  if (total > MAX_QUANTITY) throw badInput(`at most ${MAX_QUANTITY} of one product per order (the cart would hold ${total})`, { quantity: total });
  return withQuantity(lines, id, total);
}
