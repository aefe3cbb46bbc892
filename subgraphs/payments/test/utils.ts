import { randomUUID } from 'node:crypto';
import type { TRPCClient } from '@trpc/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { internalApiClient, serviceTokenOf, startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../src/context.ts';
import { paymentsSettings } from '../src/env.ts';
import type { PaymentsRouter } from '../src/internal/router.ts';
import { createPaymentsSubgraph, type PaymentsRuntime } from '../src/subgraph.ts';
import { WEBHOOK_PATH } from '../src/webhooks/payment-provider.route.ts';
import { SIGNATURE_HEADER, signWebhook, type ProviderWebhookEvent } from '../src/webhooks/webhook-signature.ts';

export const WEBHOOK_SECRET = 'whsec_payments-test-secret';

export type PaymentsClient = TRPCClient<PaymentsRouter>;

export interface TestPayments {
  subgraph: TestSubgraph<Context>;
  orm: MikroORM;
  runtime: () => PaymentsRuntime;
  /** The internal API as the saga calls it: with a service token holding `admin`. */
  client: PaymentsClient;
  /** The internal API with another token, or none. */
  clientWith(token: () => Promise<string | undefined>): PaymentsClient;
  /** POSTs a webhook body to the app, signed with `secret` unless a signature header is given. */
  postWebhook(body: string, options?: { signature?: string | null; secret?: string; timestamp?: number; contentType?: string }): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export type SettingsOverrides = Parameters<typeof paymentsSettings>[0];

/** Payments on its own database, a real issuer, its internal API reached over HTTP at /trpc (no sidecar). */
export async function startPayments(overrides: SettingsOverrides = {}): Promise<TestPayments> {
  const module = createPaymentsSubgraph(paymentsSettings({ PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET, SIMULATED_PROVIDER_CONFIRMATION: 'manual', ...overrides }));
  const subgraph = await startTestSubgraph(module);
  const serviceToken = serviceTokenOf(subgraph.issuer);
  const clientWith = (token: () => Promise<string | undefined>) => paymentsClient(subgraph.service.url, token);
  return {
    subgraph,
    orm: subgraph.service.orm,
    runtime: () => module.runtime(),
    client: clientWith(() => serviceToken.token()),
    clientWith,
    async postWebhook(body, options = {}) {
      const signature = options.signature === undefined ? signWebhook(options.secret ?? WEBHOOK_SECRET, body, options.timestamp) : options.signature;
      const response = await fetch(new URL(WEBHOOK_PATH, subgraph.service.url), {
        method: 'POST',
        headers: { 'content-type': options.contentType ?? 'application/json', ...(signature === null ? {} : { [SIGNATURE_HEADER]: signature }) },
        body,
      });
      return { status: response.status, body: await response.json() };
    },
    close: () => subgraph.close(),
  };
}

/** A tRPC client straight at the subgraph's /trpc (no sidecar), sending `token` when it gives one. */
export const paymentsClient = (graphqlUrl: string, token: () => Promise<string | undefined>): PaymentsClient => internalApiClient<PaymentsRouter>(graphqlUrl, token);

export { failureOf, serviceClient, serviceTokenOf, type InternalClientError as ClientError } from '@agora/testing';

export const newOrderId = (): string => randomUUID();

export const chargeOf = (orderId: string, paymentMethod: string, amount = 4200) => ({ orderId, userId: 'user-1', amount: { amount, currency: 'EUR' }, paymentMethod });

export interface PaymentRow {
  id: string;
  status: string;
  amount: number;
  currency: string;
  provider_payment_id: string | null;
  status_reason: string | null;
}

export async function paymentRow(orm: MikroORM, orderId: string): Promise<PaymentRow | undefined> {
  const [row] = await orm.em.fork().execute<PaymentRow[]>('select "id", "status", "amount", "currency", "provider_payment_id", "status_reason" from "payments" where "order_id" = ?', [orderId]);
  return row;
}

export interface OutboxRow {
  type: string;
  subject: string | null;
  source: string;
  topic: string;
  data: Record<string, unknown>;
}

/** Outbox events about an order's payment, oldest first. */
export const eventsOf = (orm: MikroORM, orderId: string): Promise<OutboxRow[]> =>
  orm.em.fork().execute<OutboxRow[]>(`select "type", "subject", "source", "topic", "data" from "outbox_events" where "data"->>'orderId' = ? order by "created_at", "type"`, [orderId]);

export const eventTypesOf = async (orm: MikroORM, orderId: string): Promise<string[]> => (await eventsOf(orm, orderId)).map((event) => event.type);

export const refundsOf = (orm: MikroORM, orderId: string): Promise<{ amount: number; reason: string }[]> =>
  orm.em.fork().execute('select "amount", "reason" from "refunds" where "order_id" = ?', [orderId]);

/** Captures the simulated provider made for an order (money moved). */
export const capturesOf = (payments: TestPayments, orderId: string) => payments.runtime().simulatedProvider.captures().filter((capture) => capture.reference === orderId);

/** A provider webhook event about a charge, as the simulated provider would send it. */
export function webhookEvent(type: ProviderWebhookEvent['type'], orderId: string, providerPaymentId: string, amount = 4200): ProviderWebhookEvent {
  return {
    id: `evt_test_${randomUUID()}`,
    type,
    created: Math.floor(Date.now() / 1000),
    data: { providerPaymentId, reference: orderId, amount: { amount, currency: 'EUR' }, ...(type === 'payment.failed' ? { failureReason: 'authentication_failed' } : {}) },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
