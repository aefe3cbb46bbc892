import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturesOf, chargeOf, eventTypesOf, eventually, failureOf, newOrderId, paymentRow, startPayments, type TestPayments } from './utils.ts';

// The provider behind its opossum breaker, with short settings: two failed calls in the window
// open it, it lets a trial call through after 800 ms. Also the automatic 3-D Secure
// confirmation, as it runs by default (a signed webhook after a delay).

let payments: TestPayments;
beforeAll(async () => {
  payments = await startPayments({
    PAYMENT_PROVIDER_TIMEOUT_MS: '250',
    PAYMENT_BREAKER_VOLUME_THRESHOLD: '2',
    PAYMENT_BREAKER_ERROR_THRESHOLD_PERCENTAGE: '50',
    PAYMENT_BREAKER_RESET_TIMEOUT_MS: '800',
    PAYMENT_BREAKER_ROLLING_WINDOW_MS: '60000',
    SIMULATED_PROVIDER_CONFIRMATION: 'succeed',
    SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '200',
  });
});
afterAll(() => payments?.close());

const state = () => payments.runtime().provider.state();

describe('automatic confirmation', () => {
  it('confirms pm_card_threeDSecureRequired by a signed webhook after the configured delay', async () => {
    const orderId = newOrderId();
    const { paymentId, status } = await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'));
    expect(status).toBe('PENDING_CONFIRMATION');
    await eventually(async () => (await payments.client.get.query({ orderId }))?.status === 'CAPTURED');
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_threeDSecureRequired'))).toEqual({ paymentId, status: 'CAPTURED' });
    expect(await eventTypesOf(payments.orm, orderId)).toEqual(['agora.payment.succeeded.v1']);
    expect(capturesOf(payments, orderId)).toHaveLength(1);
  });
});

describe('circuit breaker', () => {
  it('opens after timeouts, fails fast while open, and lets a trial call through when half-open', async () => {
    expect(state()).toBe('closed');
    for (const orderId of [newOrderId(), newOrderId()]) {
      const error = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
      expect(error.data.code).toBe('SERVICE_UNAVAILABLE');
      expect(error.message).toMatch(/did not answer within 250 ms/);
    }
    expect(state()).toBe('open');
    expect(payments.runtime().simulatedProvider.hangingCalls()).toBe(0);

    // Open: refused at once, without reaching the provider, and the payment stays retryable.
    const orderId = newOrderId();
    const started = Date.now();
    const refused = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa')));
    expect(Date.now() - started).toBeLessThan(250);
    expect(refused.data.code).toBe('SERVICE_UNAVAILABLE');
    expect(refused.data.domainCode).toBeUndefined();
    expect(refused.message).toMatch(/circuit breaker open/);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING' });
    expect(await payments.runtime().simulatedProvider.chargeFor(orderId)).toBeNull();
    expect(payments.runtime().provider.stats().rejects).toBeGreaterThanOrEqual(1);

    // Half-open: a trial call that fails opens it again.
    await eventually(() => state() === 'half_open', 3_000);
    await failureOf(payments.client.charge.mutate(chargeOf(newOrderId(), 'pm_card_timeout')));
    expect(state()).toBe('open');

    // Half-open again: a trial call that succeeds closes it; the retried charge captures once.
    await eventually(() => state() === 'half_open', 3_000);
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa'))).toMatchObject({ status: 'CAPTURED' });
    expect(state()).toBe('closed');
    expect(capturesOf(payments, orderId)).toHaveLength(1);
  });

  it('does not count declines against the provider', async () => {
    await eventually(() => state() === 'closed', 3_000);
    const before = payments.runtime().provider.stats().failures;
    for (let i = 0; i < 3; i += 1) await failureOf(payments.client.charge.mutate(chargeOf(newOrderId(), 'pm_card_chargeDeclined')));
    expect(payments.runtime().provider.stats().failures).toBe(before);
    expect(state()).toBe('closed');
  });

  // Regression: flaky cards' retryable answers opened the breaker under load, and every other
  // card then failed fast until the sagas gave up (saga-durability in CI, 2026-11-22).
  it('does not count retryable answers (pm_card_flaky) against the provider, yet fails them for a retry', async () => {
    await eventually(() => state() === 'closed', 3_000);
    const before = payments.runtime().provider.stats().failures;
    for (let i = 0; i < 3; i += 1) {
      const error = await failureOf(payments.client.charge.mutate(chargeOf(newOrderId(), 'pm_card_flaky')));
      expect(error.data.code).toBe('SERVICE_UNAVAILABLE');
    }
    expect(payments.runtime().provider.stats().failures).toBe(before);
    expect(state()).toBe('closed');
  });
});
