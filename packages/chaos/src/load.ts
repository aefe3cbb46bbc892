import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** The simulated provider's test payment methods (subgraphs/payments, TEST_CARDS). */
export const PAYMENT_METHODS = ['pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_threeDSecureRequired', 'pm_card_flaky', 'pm_card_timeout'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** Seed catalog products (subgraphs/inventory/src/seeders/catalog.ts): plenty of notebooks and cables, three microphones. */
export const PRODUCTS = {
  notebook: '7c0a1000-0000-4000-8000-000000000010',
  cable: '7c0a1000-0000-4000-8000-000000000014',
  microphone: '7c0a1000-0000-4000-8000-000000000020',
} as const;

export interface LoadOptions {
  gatewayUrl: string;
  /** Access tokens of the customers; orders alternate between them. */
  tokens: readonly string[];
  orders: number;
  /** Placements started per second (the load is spread so that faults land in the middle of it). */
  ratePerSecond: number;
  /** Payment methods in rotation (repeat one to weight it). */
  methods: readonly PaymentMethod[];
  /** A placement that keeps failing (the gateway or orders is down) is retried with its idempotency key until then. */
  retryForMs: number;
  /** Every n-th order is cancelled by its customer up to a second after placing it (some before the charge, some after: refunds). */
  cancelEvery: number;
}

export interface LoadResult {
  /** Order ids the gateway returned. */
  placed: string[];
  /** Placements never acknowledged, with their last error (they may still exist: the answer can be lost). */
  unacknowledged: { key: string; error: string }[];
  /** Attempts that failed and were retried. */
  retries: number;
  /** Why attempts failed: each distinct error (its GraphQL and HTTP messages), with how often. */
  errors: Record<string, number>;
  /** The `extensions.code` of each failed attempt's first error, with how often; `no answer` when no HTTP answer came. */
  codes: Record<string, number>;
  /** Cancellation requests sent, and how many the system accepted (the others came too late). */
  cancels: { requested: number; accepted: number };
}

export interface Load {
  /** Placements acknowledged so far. */
  progress(): number;
  done: Promise<LoadResult>;
}

const CANCEL_ORDER = 'mutation($id: ID!) { cancelOrder(id: $id) { id } }';
const PLACE_ORDER = 'mutation($input: PlaceOrderInput!, $key: String!) { placeOrder(input: $input, idempotencyKey: $key) { id } }';

function linesFor(index: number): { productId: string; quantity: number }[] {
  const lines: { productId: string; quantity: number }[] = [{ productId: index % 3 === 0 ? PRODUCTS.cable : PRODUCTS.notebook, quantity: 1 + (index % 2) }];
  // Every seventh order also wants a microphone: after three, stock runs out and those sagas compensate.
  if (index % 7 === 3) lines.push({ productId: PRODUCTS.microphone, quantity: 1 });
  return lines;
}

/**
 * The GraphQL errors' messages, each followed by the sidecar's or subgraph's own message when the
 * error carries the HTTP answer (`extensions.response.body.message`), joined with " / ". Read from
 * the parsed errors: a message that itself holds quoted JSON (a state store error) stays whole.
 */
function messagesOf(errors: unknown[] | undefined): string {
  const messages: string[] = [];
  for (const entry of errors ?? []) {
    const error = entry as { message?: unknown; extensions?: { response?: { body?: { message?: unknown } } } };
    if (typeof error.message === 'string') messages.push(error.message.slice(0, 400));
    const upstream = error.extensions?.response?.body?.message;
    if (typeof upstream === 'string') messages.push(upstream.slice(0, 400));
  }
  return messages.join(' / ');
}

/** The first GraphQL error's `extensions.code` (`none` when it has none). */
function codeOf(errors: unknown[] | undefined): string {
  const code = (errors?.[0] as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
  return typeof code === 'string' ? code : 'none';
}

/** Places `orders` orders through the gateway at a steady rate, each retried (same key) while it fails. */
export function startLoad(options: LoadOptions): Load {
  let acknowledged = 0;
  let retries = 0;
  const errors: Record<string, number> = {};
  const codes: Record<string, number> = {};
  const cancels = { requested: 0, accepted: 0 };

  const cancelLater = async (index: number, id: string): Promise<void> => {
    await sleep((index * 137) % 1_000);
    cancels.requested += 1;
    try {
      const response = await fetch(options.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.tokens[index % options.tokens.length] ?? ''}` },
        body: JSON.stringify({ query: CANCEL_ORDER, variables: { id } }),
        signal: AbortSignal.timeout(30_000),
      });
      const result = (await response.json()) as { data?: { cancelOrder?: { id: string } | null } | null };
      if (result.data?.cancelOrder) cancels.accepted += 1;
    } catch {
      // Refused or lost: the order simply runs its course.
    }
  };
  const placed: string[] = [];
  const unacknowledged: LoadResult['unacknowledged'] = [];

  const placeOne = async (index: number): Promise<void> => {
    const key = randomUUID();
    const body = JSON.stringify({ query: PLACE_ORDER, variables: { key, input: { paymentMethod: options.methods[index % options.methods.length], lines: linesFor(index) } } });
    const deadline = Date.now() + options.retryForMs;
    for (let attempt = 1; ; attempt += 1) {
      let error: string;
      let summary: string | undefined;
      let code = 'no answer';
      try {
        const response = await fetch(options.gatewayUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.tokens[index % options.tokens.length] ?? ''}` },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        const result = (await response.json()) as { data?: { placeOrder?: { id: string } | null } | null; errors?: unknown[] };
        const id = result.data?.placeOrder?.id;
        if (id) {
          placed.push(id);
          acknowledged += 1;
          if (options.cancelEvery > 0 && index % options.cancelEvery === options.cancelEvery - 1) await cancelLater(index, id);
          return;
        }
        error = `HTTP ${response.status}: ${JSON.stringify(result.errors ?? result).slice(0, 1_500)}`;
        summary = messagesOf(result.errors);
        code = codeOf(result.errors);
      } catch (caught) {
        error = caught instanceof Error ? caught.message : String(caught);
      }
      if (Date.now() > deadline) {
        unacknowledged.push({ key, error: `${attempt} attempts, last: ${error}` });
        return;
      }
      retries += 1;
      const kind = (summary || error).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').replace(/127\.0\.0\.1:\d+/g, '<host>').slice(0, 400);
      errors[kind] = (errors[kind] ?? 0) + 1;
      codes[code] = (codes[code] ?? 0) + 1;
      await sleep(Math.min(250 * 2 ** (attempt - 1), 3_000));
    }
  };

  const done = (async () => {
    const running: Promise<void>[] = [];
    const interval = 1_000 / options.ratePerSecond;
    const started = Date.now();
    for (let index = 0; index < options.orders; index += 1) {
      running.push(placeOne(index));
      const next = started + (index + 1) * interval;
      if (next > Date.now()) await sleep(next - Date.now());
    }
    await Promise.all(running);
    return { placed, unacknowledged, retries, errors, codes, cancels };
  })();
  return { progress: () => acknowledged, done };
}
