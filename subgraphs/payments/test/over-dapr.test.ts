import { fileURLToPath } from 'node:url';
import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInternalClient, domainCodeOf } from '@agora/internal-api';
import { startSidecar, type RunningSidecar } from '@agora/sidecar';
import { freePort } from '@agora/testing';
import type { PaymentsRouter } from '../src/internal/router.ts';
import { chargeOf, eventually, failureOf, newOrderId, serviceTokenOf, startPayments, type TestPayments } from './utils.ts';

// The way the order saga reaches payments: a typed client on the orders app's sidecar, Dapr
// service invocation to payments' sidecar, then /trpc on the payments app; and the way payment
// events leave: the outbox relay publishing to payments' sidecar (in-memory pub/sub).

const embeddedComponents = fileURLToPath(new URL('../../../dapr/components-embedded', import.meta.url));

let payments: TestPayments;
let paymentsSidecar: RunningSidecar;
let ordersSidecar: RunningSidecar;
let client: TRPCClient<PaymentsRouter>;

beforeAll(async () => {
  // The relay needs the sidecar's port before the app starts, and the sidecar the app's port: fix the first.
  const daprHttpPort = await freePort();
  payments = await startPayments({ DAPR_HTTP_PORT: String(daprHttpPort), SIMULATED_PROVIDER_CONFIRMATION: 'succeed', SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '100' });
  paymentsSidecar = await startSidecar({ appId: 'payments', appPort: payments.subgraph.service.port, httpPort: daprHttpPort, resourcesPaths: [embeddedComponents], logLevel: 'warn' });
  ordersSidecar = await startSidecar({ appId: 'orders', httpPort: 0, resourcesPaths: [embeddedComponents], peers: { payments: paymentsSidecar.url }, logLevel: 'warn' });
  const service = serviceTokenOf(payments.subgraph.issuer);
  client = createInternalClient<PaymentsRouter>({ appId: 'payments', daprHttpPort: ordersSidecar.httpPort, token: () => service.token() });
});
afterAll(async () => {
  await ordersSidecar?.stop();
  await payments?.close();
  await paymentsSidecar?.stop();
});

const unsentOf = async (orderId: string) =>
  payments.orm.em.fork().execute<{ type: string }[]>(`select "type" from "outbox_events" where "data"->>'orderId' = ? and "sent_at" is null`, [orderId]);

describe('payments over Dapr', () => {
  it('answers the saga through service invocation, domain failures included', async () => {
    const orderId = newOrderId();
    expect(await client.charge.mutate(chargeOf(orderId, 'pm_card_visa'))).toMatchObject({ status: 'CAPTURED' });
    const declined = await failureOf(client.charge.mutate(chargeOf(newOrderId(), 'pm_card_chargeDeclined')));
    expect(domainCodeOf(declined)).toBe('PAYMENT_DECLINED');
    expect(await client.refund.mutate({ orderId, reason: 'test' })).toEqual({ status: 'REFUNDED' });
  });

  it('publishes payment events of the outbox through the sidecar and marks them sent, a confirmation webhook included', async () => {
    const orderId = newOrderId();
    expect(await client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'))).toMatchObject({ status: 'PENDING_CONFIRMATION' });
    await eventually(async () => (await client.get.query({ orderId }))?.status === 'CAPTURED');
    const all = await payments.orm.em.fork().execute<{ type: string }[]>(`select "type" from "outbox_events" where "data"->>'orderId' = ?`, [orderId]);
    expect(all.map((row) => row.type)).toEqual(['agora.payment.succeeded.v1']);
    await eventually(async () => (await unsentOf(orderId)).length === 0);
  });
});
