export interface Money {
  amount: number;
  currency: string;
}

/** Integer minor units as the shopper's locale writes the currency. */
export function formatMoney({ amount, currency }: Money): string {
  const digits = new Intl.NumberFormat(undefined, { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount / 10 ** digits);
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "pm_card_chargeDeclined" → "Charge declined (test card)". */
export function describePaymentMethod(method: string): string {
  const words = method
    .replace(/^pm_card_/, '')
    .replace(/([A-Z])/g, ' $1')
    .toLowerCase()
    .replace('three d secure', '3-D Secure');
  return `${words.charAt(0).toUpperCase()}${words.slice(1)} (test card)`;
}
