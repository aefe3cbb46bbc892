import { createHmac, timingSafeEqual } from 'node:crypto';

// Webhook signatures in Stripe's scheme (https://docs.stripe.com/webhooks#verify-manually):
// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. Several v1 entries may be present
// (during a secret rotation); one matching is enough. The timestamp is signed, so an old
// request cannot be replayed with a new one.

export const SIGNATURE_HEADER = 'payment-provider-signature';

const hmac = (secret: string, timestamp: number, payload: Buffer | string): Buffer =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(payload).digest();

/** The signature header value for `payload` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, payload: Buffer | string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, payload).toString('hex')}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

export interface VerifyOptions {
  secret: string;
  /** How far the signed timestamp may be from now, either way. */
  toleranceSeconds: number;
  now?: number;
}

/** Checks a signature header against the raw request body, comparing digests in constant time. */
export function verifyWebhookSignature(header: string | undefined, payload: Buffer | string, options: VerifyOptions): SignatureCheck {
  if (!header) return { ok: false, reason: `missing ${SIGNATURE_HEADER} header` };
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/i.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined) return { ok: false, reason: 'no timestamp in the signature header' };
  if (signatures.length === 0) return { ok: false, reason: 'no v1 signature in the signature header' };
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - timestamp) > options.toleranceSeconds) return { ok: false, reason: 'the signature timestamp is outside the tolerance' };
  const expected = hmac(options.secret, timestamp, payload);
  // Every candidate is compared (no early exit), each in constant time.
  let match = false;
  for (const signature of signatures) match = timingSafeEqual(signature, expected) || match;
  return match ? { ok: true, timestamp } : { ok: false, reason: 'no signature matches the payload' };
}

/** What the provider POSTs: an event about one of its payments. */
export interface ProviderWebhookEvent {
  /** Unique per event; a redelivery carries the same id. */
  id: string;
  type: 'payment.succeeded' | 'payment.failed';
  /** Unix seconds. */
  created: number;
  data: {
    providerPaymentId: string;
    /** The reference given with the charge: the order id. */
    reference: string;
    amount: { amount: number; currency: string };
    failureReason?: string | undefined;
  };
}
