import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturesOf, chargeOf, eventTypesOf, eventsOf, failureOf, newOrderId, paymentRow, refundsOf, startPayments, type TestPayments } from './utils.ts';

// The internal API as the order saga calls it: over HTTP at /trpc with a service token, against
// real PostgreSQL and the simulated provider's test cards. The breaker never opens here (see
// breaker.test.ts); confirmations come only when a test asks for them.

let payments: TestPayments;
beforeAll(async () => {
  payments = await startPayments({ PAYMENT_PROVIDER_TIMEOUT_MS: '1000', PAYMENT_BREAKER_VOLUME_THRESHOLD: '100000' });
});
afterAll(() => payments?.close());

const confirm = (orderId: string, outcome: 'succeeded' | 'failed', force = false) => payments.runtime().simulatedProvider.confirm({ reference: orderId }, outcome, { force });

describe('access', () => {
  it('refuses a call without a token with UNAUTHORIZED', async () => {
    const error = await failureOf(payments.clientWith(async () => undefined).get.query({ orderId: newOrderId() }));
    expect(error.data.code).toBe('UNAUTHORIZED');
    expect(error.data.httpStatus).toBe(401);
  });

  it("refuses a customer's token and the gateway's role-less token with FORBIDDEN, and charges nothing", async () => {
    const orderId = newOrderId();
    for (const token of [() => payments.subgraph.issuer.tokenFor('alice'), () => payments.subgraph.issuer.serviceToken()]) {
      const error = await failureOf(payments.clientWith(token).charge.mutate(chargeOf(orderId, 'pm_card_visa')));
      expect(error.data.code).toBe('FORBIDDEN');
    }
    expect(await paymentRow(payments.orm, orderId)).toBeUndefined();
  });

  it('refuses a forged token with UNAUTHORIZED', async () => {
    const error = await failureOf(payments.clientWith(async () => 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln').get.query({ orderId: newOrderId() }));
    expect(error.data.code).toBe('UNAUTHORIZED');
  });
});

describe('bad input', () => {
  const orderId = newOrderId();
  const cases: [string, unknown][] = [
    ['a zero amount', { ...chargeOf(orderId, 'pm_card_visa'), amount: { amount: 0, currency: 'EUR' } }],
    ['a negative amount', { ...chargeOf(orderId, 'pm_card_visa'), amount: { amount: -100, currency: 'EUR' } }],
    ['an amount in major units', { ...chargeOf(orderId, 'pm_card_visa'), amount: { amount: 12.5, currency: 'EUR' } }],
    ['a currency that is not three capital letters', { ...chargeOf(orderId, 'pm_card_visa'), amount: { amount: 100, currency: 'euro' } }],
    ['an order id that is not a UUID', { ...chargeOf(orderId, 'pm_card_visa'), orderId: 'order-1' }],
    ['no payment method', { ...chargeOf(orderId, 'pm_card_visa'), paymentMethod: '' }],
    ['no user', { ...chargeOf(orderId, 'pm_card_visa'), userId: undefined }],
  ];
  it.each(cases)('refuses a charge with %s as BAD_REQUEST and records nothing', async (_name, input) => {
    const error = await failureOf(payments.client.charge.mutate(input as Parameters<typeof payments.client.charge.mutate>[0]));
    expect(error.data.code).toBe('BAD_REQUEST');
    expect(error.data.domainCode).toBeUndefined();
    expect(await paymentRow(payments.orm, orderId)).toBeUndefined();
  });

  it('refuses a refund or cancel without a reason or order id', async () => {
    expect((await failureOf(payments.client.refund.mutate({ orderId, reason: ' ' }))).data.code).toBe('BAD_REQUEST');
    expect((await failureOf(payments.client.cancel.mutate({ orderId: 'nope', reason: 'timer' }))).data.code).toBe('BAD_REQUEST');
  });
});

describe('charge', () => {
  it('captures pm_card_visa at once, records the succeeded event and answers get', async () => {
    const orderId = newOrderId();
    const result = await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa', 8900));
    expect(result.status).toBe('CAPTURED');
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ id: result.paymentId, status: 'CAPTURED', amount: 8900, currency: 'EUR' });
    expect(await eventsOf(payments.orm, orderId)).toEqual([
      {
        type: 'agora.payment.succeeded.v1',
        subject: result.paymentId,
        source: 'agora/payments',
        topic: 'payments',
        data: { paymentId: result.paymentId, orderId, userId: 'user-1', amount: { amount: 8900, currency: 'EUR' }, awaitedConfirmation: false },
      },
    ]);
    expect(await payments.client.get.query({ orderId })).toEqual({ paymentId: result.paymentId, status: 'CAPTURED', amount: { amount: 8900, currency: 'EUR' } });
    expect(capturesOf(payments, orderId)).toHaveLength(1);
  });

  it('answers a replay with the first outcome and charges once', async () => {
    const orderId = newOrderId();
    const first = await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa'));
    const again = await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa'));
    expect(again).toEqual(first);
    expect(capturesOf(payments, orderId)).toHaveLength(1);
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1']);
  });

  it('charges once when the same order is charged by many calls at the same time', async () => {
    const orderId = newOrderId();
    const results = await Promise.all(Array.from({ length: 12 }, () => payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa'))));
    expect(new Set(results.map((result) => JSON.stringify(result))).size).toBe(1);
    expect(results[0]?.status).toBe('CAPTURED');
    expect(capturesOf(payments, orderId)).toHaveLength(1);
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1']);
  });

  it('refuses a replay with another amount, currency or method as IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa', 1000));
    for (const input of [chargeOf(orderId, 'pm_card_visa', 1001), { ...chargeOf(orderId, 'pm_card_visa', 1000), amount: { amount: 1000, currency: 'USD' } }, chargeOf(orderId, 'pm_card_mastercard', 1000)]) {
      const error = await failureOf(payments.client.charge.mutate(input));
      expect(error.data.code).toBe('CONFLICT');
      expect(error.data.domainCode).toBe('IDEMPOTENCY_KEY_REUSED');
    }
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CAPTURED', amount: 1000, currency: 'EUR' });
    expect(capturesOf(payments, orderId)).toHaveLength(1);
  });

  it('declines pm_card_chargeDeclined with PAYMENT_DECLINED, the same on a replay, with one failed event', async () => {
    const orderId = newOrderId();
    for (let call = 0; call < 2; call += 1) {
      const error = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_chargeDeclined')));
      expect(error.data.domainCode).toBe('PAYMENT_DECLINED');
      expect(error.data.code).toBe('UNPROCESSABLE_CONTENT');
      expect(error.data.details).toMatchObject({ status: 'DECLINED', reason: 'card_declined' });
    }
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'DECLINED', status_reason: 'card_declined' });
    const events = await eventsOf(payments.orm, orderId);
    expect(events.map((event) => event.type)).toEqual(['agora.payment.failed.v1']);
    expect(events[0]?.data).toMatchObject({ orderId, reason: 'card_declined' });
    expect(capturesOf(payments, orderId)).toHaveLength(0);
  });

  it('declines an unknown payment method', async () => {
    const orderId = newOrderId();
    const error = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_unknown')));
    expect(error.data.domainCode).toBe('PAYMENT_DECLINED');
    expect(error.data.details).toMatchObject({ reason: 'unknown_payment_method' });
  });

  it('fails pm_card_flaky transiently twice (retryable, no domain code), then captures it once', async () => {
    const orderId = newOrderId();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const error = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_flaky')));
      expect(error.data.code).toBe('SERVICE_UNAVAILABLE');
      expect(error.data.domainCode).toBeUndefined();
      expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING' });
    }
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_flaky'))).toMatchObject({ status: 'CAPTURED' });
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_flaky'))).toMatchObject({ status: 'CAPTURED' });
    expect(capturesOf(payments, orderId)).toHaveLength(1);
    expect((await payments.runtime().simulatedProvider.chargeFor(orderId))?.attempts).toBe(3);
  });

  it('gives up on pm_card_timeout after the provider timeout, aborts the call and leaves the payment retryable', async () => {
    const orderId = newOrderId();
    const started = Date.now();
    const error = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(error.data.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.data.domainCode).toBeUndefined();
    expect(error.message).toMatch(/did not answer within 1000 ms/);
    expect(payments.runtime().simulatedProvider.hangingCalls()).toBe(0);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING' });
    // The saga's compensation: nothing was captured, so it is cancelled, and a late retry does not charge.
    expect(await payments.client.cancel.mutate({ orderId, reason: 'payment step timed out' })).toEqual({ status: 'CANCELED' });
    const late = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
    expect(late.data.domainCode).toBe('CONFLICT');
    expect(capturesOf(payments, orderId)).toHaveLength(0);
  });
});

describe('asynchronous confirmation (pm_card_threeDSecureRequired)', () => {
  it('answers PENDING_CONFIRMATION, then the signed webhook captures it with one succeeded event', async () => {
    const orderId = newOrderId();
    const first = await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    expect(first.status).toBe('PENDING_CONFIRMATION');
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'))).toEqual(first);
    expect(await eventTypesOf(payments.orm, orderId)).toEqual([]);

    const confirmation = await confirm(orderId, 'succeeded');
    expect(confirmation.deliveryStatus).toBe(200);
    expect(await payments.client.get.query({ orderId })).toMatchObject({ paymentId: first.paymentId, status: 'CAPTURED' });
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'))).toEqual({ paymentId: first.paymentId, status: 'CAPTURED' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1']);
    const [succeeded] = await eventsOf(payments.orm, orderId);
    expect(succeeded).toMatchObject({ type: 'agora.payment.succeeded.v1', data: { awaitedConfirmation: true } });
    expect(capturesOf(payments, orderId)).toHaveLength(1);
  });

  it('records a failed confirmation as FAILED with a failed event; a replay is PAYMENT_DECLINED', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    await confirm(orderId, 'failed');
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'FAILED', status_reason: 'authentication_failed' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.failed.v1']);
    const [failed] = await eventsOf(payments.orm, orderId);
    expect(failed).toMatchObject({ type: 'agora.payment.failed.v1', data: { reason: 'authentication_failed', awaitedConfirmation: true } });
    const error = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired')));
    expect(error.data.domainCode).toBe('PAYMENT_DECLINED');
  });
});

describe('refund', () => {
  it('refunds a captured payment once, with one refunded event, however often it is asked', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa', 2500));
    const answers = await Promise.all([1, 2, 3].map(() => payments.client.refund.mutate({ orderId, reason: 'out of stock' })));
    expect(answers).toEqual([{ status: 'REFUNDED' }, { status: 'REFUNDED' }, { status: 'REFUNDED' }]);
    expect(await payments.client.refund.mutate({ orderId, reason: 'again' })).toEqual({ status: 'REFUNDED' });
    expect(await refundsOf(payments.orm, orderId)).toEqual([{ amount: 2500, reason: 'out of stock' }]);
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1', 'agora.payment.refunded.v1']);
    expect((await payments.runtime().simulatedProvider.chargeFor(orderId))?.status).toBe('refunded');
    // A charge replay after the refund does not charge again.
    expect((await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa', 2500)))).data.domainCode).toBe('CONFLICT');
    expect(capturesOf(payments, orderId)).toHaveLength(1);
  });

  it('answers NOTHING_TO_REFUND for an order without payment and for a declined one', async () => {
    expect(await payments.client.refund.mutate({ orderId: newOrderId(), reason: 'x' })).toEqual({ status: 'NOTHING_TO_REFUND' });
    const declined = newOrderId();
    await failureOf(payments.client.charge.mutate(chargeOf(declined, 'pm_card_chargeDeclined')));
    expect(await payments.client.refund.mutate({ orderId: declined, reason: 'x' })).toEqual({ status: 'NOTHING_TO_REFUND' });
    expect(await paymentRow(payments.orm, declined)).toMatchObject({ status: 'DECLINED' });
  });

  it('cancels a payment still waiting for confirmation (NOTHING_TO_REFUND), so the confirmation cannot capture it', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    expect(await payments.client.refund.mutate({ orderId, reason: 'stock gone' })).toEqual({ status: 'NOTHING_TO_REFUND' });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CANCELED' });
    expect((await confirm(orderId, 'succeeded')).status).toBe('canceled');
    expect(capturesOf(payments, orderId)).toHaveLength(0);
  });
});

describe('cancel', () => {
  it('answers CONFLICT when the provider refuses to cancel (pm_card_threeDSecureCancelRefused), and changes nothing', async () => {
    const orderId = newOrderId();
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureCancelRefused'))).toMatchObject({ status: 'PENDING_CONFIRMATION' });
    const refused = await failureOf(payments.client.cancel.mutate({ orderId, reason: 'confirmation timed out' }));
    expect(refused.data.domainCode).toBe('CONFLICT');
    expect(refused.message).toMatch(/cannot be canceled/);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING_CONFIRMATION' });
    expect((await payments.runtime().simulatedProvider.chargeFor(orderId))?.status).toBe('requires_confirmation');
    // A refusal says nothing about the provider's health.
    expect(payments.runtime().provider.state()).toBe('closed');
  });

  it('cancels a payment whose confirmation never came; it stays cancelled and nothing is captured', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    expect(await payments.client.cancel.mutate({ orderId, reason: 'confirmation timed out' })).toEqual({ status: 'CANCELED' });
    expect(await payments.client.cancel.mutate({ orderId, reason: 'confirmation timed out' })).toEqual({ status: 'CANCELED' });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'CANCELED', status_reason: 'confirmation timed out' });
    const confirmation = await confirm(orderId, 'succeeded');
    expect(confirmation.status).toBe('canceled');
    expect(confirmation.eventId).toBeUndefined();
    expect(await eventTypesOf(payments.orm, orderId)).toEqual([]);
    expect(capturesOf(payments, orderId)).toHaveLength(0);
  });

  it('refunds instead when the confirmation captured the payment first', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    await confirm(orderId, 'succeeded');
    expect(await payments.client.cancel.mutate({ orderId, reason: 'saga timer fired' })).toEqual({ status: 'REFUNDED' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1', 'agora.payment.refunded.v1']);
  });

  it('refunds a payment the provider captured before the cancel reached it, though its webhook never came', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    // Confirmed at the provider, with the webhook lost on the way.
    const provider = payments.runtime().simulatedProvider;
    const charge = await provider.chargeFor(orderId);
    await payments.orm.em.fork().execute(`update "simulated_provider_charges" set "status" = 'succeeded' where "id" = ?`, [charge!.id]);
    expect(await payments.client.cancel.mutate({ orderId, reason: 'saga timer fired' })).toEqual({ status: 'REFUNDED' });
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'REFUNDED' });
    expect((await provider.chargeFor(orderId))?.status).toBe('refunded');
  });

  it('refunds a confirmation webhook that arrives after the cancel, so no money stays captured', async () => {
    const orderId = newOrderId();
    await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired', 3100));
    expect(await payments.client.cancel.mutate({ orderId, reason: 'confirmation timed out' })).toEqual({ status: 'CANCELED' });
    // The provider confirmed just before it processed the cancel: its webhook comes afterwards.
    const confirmation = await confirm(orderId, 'succeeded', true);
    expect(confirmation.deliveryStatus).toBe(200);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'REFUNDED' });
    expect(await refundsOf(payments.orm, orderId)).toEqual([{ amount: 3100, reason: 'captured after it was cancelled (confirmation timed out)' }]);
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.refunded.v1']);
    expect((await payments.runtime().simulatedProvider.chargeFor(orderId))?.status).toBe('refunded');
    expect(await payments.client.cancel.mutate({ orderId, reason: 'again' })).toEqual({ status: 'REFUNDED' });
  });

  it('refunds a captured payment and has nothing to cancel for a declined one or an unknown order', async () => {
    const captured = newOrderId();
    await payments.client.charge.mutate(chargeOf(captured, 'pm_card_visa'));
    expect(await payments.client.cancel.mutate({ orderId: captured, reason: 'customer cancelled' })).toEqual({ status: 'REFUNDED' });
    const declined = newOrderId();
    await failureOf(payments.client.charge.mutate(chargeOf(declined, 'pm_card_chargeDeclined')));
    expect(await payments.client.cancel.mutate({ orderId: declined, reason: 'x' })).toEqual({ status: 'NOTHING_TO_CANCEL' });
    expect(await payments.client.cancel.mutate({ orderId: newOrderId(), reason: 'x' })).toEqual({ status: 'NOTHING_TO_CANCEL' });
  });
});

describe('get', () => {
  it('answers null for an order without payment', async () => {
    expect(await payments.client.get.query({ orderId: newOrderId() })).toBeNull();
  });
});
