import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/webhooks/webhook-signature.ts';
import { chargeOf, eventTypesOf, newOrderId, paymentRow, startPayments, webhookEvent, type TestPayments } from './utils.ts';

// POST /webhooks/payment-provider as the provider (or an attacker) sends it: Stripe-style
// signatures over the raw body, a timestamp tolerance, and event ids applied once.

let payments: TestPayments;
beforeAll(async () => {
  payments = await startPayments();
});
afterAll(() => payments?.close());

/** An order whose payment waits for confirmation, and the provider's id of it. */
async function pendingConfirmation(): Promise<{ orderId: string; providerPaymentId: string }> {
  const orderId = newOrderId();
  expect((await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'))).status).toBe('PENDING_CONFIRMATION');
  const row = await paymentRow(payments.orm, orderId);
  return { orderId, providerPaymentId: row!.provider_payment_id! };
}

describe('signature', () => {
  it('refuses forged, tampered, unsigned and stale webhooks with 400 and changes nothing', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    const body = JSON.stringify(webhookEvent('payment.succeeded', orderId, providerPaymentId));
    const tampered = JSON.stringify({ ...webhookEvent('payment.succeeded', orderId, providerPaymentId), id: 'evt_other' });
    const attempts = [
      payments.postWebhook(body, { secret: 'whsec_not-the-right-secret' }),
      payments.postWebhook(tampered, { signature: signWebhook('whsec_payments-test-secret', body) }),
      payments.postWebhook(body, { signature: null }),
      payments.postWebhook(body, { signature: 't=1700000000' }),
      payments.postWebhook(body, { signature: `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }),
      payments.postWebhook(body, { signature: 'v1=abc,t=x' }),
      // Well outside the 300 s tolerance: at 301 s a loaded machine's second tick between sending and checking made a future one valid.
      payments.postWebhook(body, { timestamp: Math.floor(Date.now() / 1000) - 330 }),
      payments.postWebhook(body, { timestamp: Math.floor(Date.now() / 1000) + 330 }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ error: 'invalid_signature' });
    }
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING_CONFIRMATION' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual([]);
  });

  it('accepts a signature among several (a secret rotation) and a timestamp within the tolerance', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    const body = JSON.stringify(webhookEvent('payment.succeeded', orderId, providerPaymentId));
    const timestamp = Math.floor(Date.now() / 1000) - 200;
    const good = signWebhook('whsec_payments-test-secret', body, timestamp).split(',')[1];
    const old = signWebhook('whsec_the-previous-secret', body, timestamp).split(',')[1];
    const response = await payments.postWebhook(body, { signature: `t=${timestamp},${old},${good}` });
    expect(response).toEqual({ status: 200, body: { received: true } });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CAPTURED' });
  });

  it('checks the raw bytes whatever the content type says (curl -d sends a form type)', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    const body = JSON.stringify(webhookEvent('payment.succeeded', orderId, providerPaymentId));
    expect(await payments.postWebhook(body, { contentType: 'application/x-www-form-urlencoded' })).toEqual({ status: 200, body: { received: true } });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CAPTURED' });
  });

  it('refuses a validly signed body that is not an event with 400', async () => {
    const response = await payments.postWebhook('{"hello":');
    expect(response).toMatchObject({ status: 400, body: { error: 'invalid_payload' } });
  });
});

describe('events', () => {
  it('captures the payment on payment.succeeded with one succeeded event; a replayed event id is a 200 no-op', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    const body = JSON.stringify(webhookEvent('payment.succeeded', orderId, providerPaymentId));
    const deliveries = await Promise.all([1, 2, 3].map(() => payments.postWebhook(body)));
    expect(deliveries.map((delivery) => delivery.status)).toEqual([200, 200, 200]);
    expect(deliveries.filter((delivery) => (delivery.body as { duplicate?: boolean }).duplicate === true)).toHaveLength(2);
    expect(await payments.postWebhook(body)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CAPTURED', provider_payment_id: providerPaymentId });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1']);
  });

  it('changes nothing when a later event contradicts a settled payment', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    expect((await payments.postWebhook(JSON.stringify(webhookEvent('payment.succeeded', orderId, providerPaymentId)))).status).toBe(200);
    expect((await payments.postWebhook(JSON.stringify(webhookEvent('payment.failed', orderId, providerPaymentId)))).status).toBe(200);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CAPTURED' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1']);
  });

  it('fails the payment on payment.failed with one failed event', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    expect((await payments.postWebhook(JSON.stringify(webhookEvent('payment.failed', orderId, providerPaymentId)))).status).toBe(200);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'FAILED', status_reason: 'authentication_failed' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.failed.v1']);
  });

  it('ignores (200) events about unknown payments, other charges and unknown types', async () => {
    const { orderId, providerPaymentId } = await pendingConfirmation();
    for (const event of [
      webhookEvent('payment.succeeded', newOrderId(), providerPaymentId),
      webhookEvent('payment.succeeded', orderId, 'sim_pi_someone_else'),
      { ...webhookEvent('payment.succeeded', orderId, providerPaymentId), type: 'charge.dispute.created' },
      webhookEvent('payment.succeeded', 'not-an-order-id', providerPaymentId),
    ]) {
      expect(await payments.postWebhook(JSON.stringify(event))).toEqual({ status: 200, body: { received: true, ignored: true } });
    }
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING_CONFIRMATION' });
  });

  it('leaves /graphql parsing JSON as before', async () => {
    const response = await payments.subgraph.post('{ __typename }', { token: await payments.subgraph.issuer.tokenFor('alice') });
    expect(response.data).toEqual({ __typename: 'Query' });
  });
});

describe('the simulated provider as a client of the webhook', () => {
  it('confirms on request over HTTP for an admin token, and refuses customers', async () => {
    const { orderId } = await pendingConfirmation();
    const url = new URL(`/simulated-provider/orders/${orderId}/confirmation`, payments.subgraph.service.url);
    const post = (token: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ outcome: 'succeeded' }) });
    expect((await post(await payments.subgraph.issuer.tokenFor('alice'))).status).toBe(403);
    const response = await post(await payments.subgraph.issuer.tokenFor('admin'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'succeeded', deliveryStatus: 200 });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CAPTURED' });
  });
});
