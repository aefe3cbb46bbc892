// The payment methods payments accepts: the test methods of its simulated provider, in the style
// of real providers' test mode (subgraphs/payments/README.md#test-payment-methods). One list, read
// by payments (its provider and its charge command) and by orders (placeOrder refuses any other
// method before it creates anything).

export const PAYMENT_METHODS = [
  'pm_card_visa',
  'pm_card_mastercard',
  'pm_card_chargeDeclined',
  'pm_card_chargeDeclinedInsufficientFunds',
  'pm_card_threeDSecureRequired',
  'pm_card_threeDSecureCancelRefused',
  'pm_card_timeout',
  'pm_card_flaky',
] as const;

export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

const known: ReadonlySet<string> = new Set(PAYMENT_METHODS);

export const isPaymentMethod = (method: string): method is PaymentMethod => known.has(method);
