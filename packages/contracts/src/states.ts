// Provider states: the consumer tests name them with their parameters, the provider tests set them
// up with real data through the provider's own code. Every state makes its data whatever an
// earlier interaction left behind (interactions share one provider database).

/** Inventory's states; parameters in the comments. */
export const InventoryState = {
  /** `{ productId, available }`: the product exists with exactly `available` units and no reservations. */
  PRODUCT_AVAILABLE: 'a product with units available',
  /** `{ productId }` */
  NO_PRODUCT: 'no product with the id',
  /** `{ orderId, productId, quantity }`: the order holds a reservation of the product. */
  ORDER_RESERVED: 'an order holding a reservation',
  /** `{ orderId, productId, quantity }`: the order's reservation was released (compensation or expiry). */
  ORDER_RELEASED: 'an order whose reservation was released',
  /** `{ orderId }` */
  ORDER_WITHOUT_RESERVATIONS: 'an order without reservations',
} as const;

/** Payments' states; each takes the charge's `{ orderId, userId, amount, currency, paymentMethod }` (defaults where absent). */
export const PaymentsState = {
  NO_PAYMENT: 'no payment for the order',
  /** Charged with pm_card_visa. */
  CAPTURED: 'a captured payment',
  /** Charged with pm_card_threeDSecureRequired, not confirmed yet. */
  AWAITING_CONFIRMATION: 'a payment waiting for confirmation',
  /** A payment waiting for confirmation, cancelled by the saga. */
  CANCELLED: 'a cancelled payment',
  /** Charged with pm_card_chargeDeclined. */
  DECLINED: 'a declined payment',
  /** Captured, then refunded. */
  REFUNDED: 'a refunded payment',
  /** Waiting for confirmation, then confirmed through the provider's webhook. */
  CONFIRMED_LATER: 'a payment confirmed by the provider later',
  /** Waiting for confirmation, then failed through the provider's webhook. */
  FAILED_LATER: 'a payment whose confirmation failed',
} as const;

/** Orders' states; each takes `{ orderId, userId }`. */
export const OrdersState = {
  PLACED: 'an order was placed',
  CONFIRMED: 'an order was confirmed',
  /** Also `{ reason }`. */
  CANCELLED: 'an order was cancelled',
  NEEDS_ATTENTION: 'an order needs attention',
} as const;
