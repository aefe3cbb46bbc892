import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturesOf, chargeOf, eventually, failureOf, newOrderId, paymentRow, startPayments, type TestPayments } from './utils.ts';

// The bulkhead around the payment provider (PAYMENT_PROVIDER_MAX_CONCURRENT_CALLS, opossum's
// capacity, issue 7): a provider that hangs holds at most two of our calls; the next is refused at
// once, retryably, without counting against the breaker, and the rest of payments keeps answering.
// A request whose call failed is not sent again for PAYMENT_PROVIDER_RETRY_AFTER_MS (ADR 0023).

let payments: TestPayments;
beforeAll(async () => {
  payments = await startPayments({
    PAYMENT_PROVIDER_MAX_CONCURRENT_CALLS: 2,
    PAYMENT_PROVIDER_TIMEOUT_MS: 2_000,
    PAYMENT_PROVIDER_RETRY_AFTER_MS: 1_500,
    // Only the bulkhead is under test here: the hanging calls' timeouts must not open the breaker.
    PAYMENT_BREAKER_VOLUME_THRESHOLD: 100,
  });
});
afterAll(() => payments?.close());

describe('provider bulkhead', () => {
  it('refuses a call beyond the limit at once, keeps other work answering, and lets the call through once a slot frees', async () => {
    const provider = payments.runtime().provider;
    const simulated = payments.runtime().simulatedProvider;
    const hung = [newOrderId(), newOrderId()].map((orderId) => failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout'))));
    await eventually(async () => simulated.hangingCalls() === 2);

    const orderId = newOrderId();
    const started = performance.now();
    const refused = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa')));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(refused.data.code).toBe('SERVICE_UNAVAILABLE');
    expect(refused.data.domainCode).toBeUndefined();
    expect(refused.message).toMatch(/2 calls in flight \(bulkhead full\)/);
    // Refused before the provider saw it: the payment stays open for the saga's retry.
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING' });
    expect(await simulated.chargeFor(orderId)).toBeNull();
    expect(provider.stats().semaphoreRejections).toBeGreaterThanOrEqual(1);
    expect(provider.stats().failures).toBe(0);
    expect(provider.state()).toBe('closed');

    // Work that does not need the provider is not starved by the hanging calls.
    const readStarted = performance.now();
    expect(await payments.client.get.query({ orderId })).toMatchObject({ status: 'PENDING' });
    expect(performance.now() - readStarted).toBeLessThan(1_000);

    // The hanging calls time out and free their slots; the retried charge captures once.
    for (const failure of await Promise.all(hung)) expect(failure.message).toMatch(/did not answer within 2000 ms/);
    expect(simulated.hangingCalls()).toBe(0);
    expect(await payments.client.charge.mutate(chargeOf(orderId, 'pm_card_visa'))).toMatchObject({ status: 'CAPTURED' });
    expect(capturesOf(payments, orderId)).toHaveLength(1);
    expect(provider.state()).toBe('closed');
  });

  it('does not send a request whose call timed out again before PAYMENT_PROVIDER_RETRY_AFTER_MS: its retries fail at once, hold no slot and do not count', async () => {
    const provider = payments.runtime().provider;
    const simulated = payments.runtime().simulatedProvider;
    const orderId = newOrderId();
    const first = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
    const failedAt = performance.now();
    expect(first.message).toMatch(/did not answer within 2000 ms/);
    const counted = { fires: provider.stats().fires, failures: provider.stats().failures };

    const started = performance.now();
    const held = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(held.data.code).toBe('SERVICE_UNAVAILABLE');
    expect(held.data.domainCode).toBeUndefined();
    expect(held.message).toMatch(/previous call less than 1500 ms ago; it is not sent again sooner/);
    expect(simulated.hangingCalls()).toBe(0);
    expect((await simulated.chargeFor(orderId))?.attempts).toBe(1);
    expect(provider.stats()).toMatchObject(counted);
    expect(await paymentRow(payments.orm, orderId)).toMatchObject({ status: 'PENDING' });

    // Other requests are not held; once the interval has passed, this one reaches the provider again.
    expect(await payments.client.charge.mutate(chargeOf(newOrderId(), 'pm_card_visa'))).toMatchObject({ status: 'CAPTURED' });
    await sleep(Math.max(failedAt + 1_500 - performance.now(), 0));
    const again = await failureOf(payments.client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
    expect(again.message).toMatch(/did not answer within 2000 ms/);
    expect((await simulated.chargeFor(orderId))?.attempts).toBe(2);
  });
});
