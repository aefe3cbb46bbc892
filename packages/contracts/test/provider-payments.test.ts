import { afterAll, beforeAll, describe, it } from 'vitest';
import { verifyProvider } from '../src/verify.ts';
import { startPaymentsProvider, type PaymentsProvider } from './payments-provider.ts';

// Payments as a provider: the orders saga's calls (HTTP) and the payment events orders and users
// read (messages), verified against the real service on its own database with the simulated
// provider's test cards. Provider states charge, cancel, refund and confirm through payments' own
// internal API and provider webhook; messages are the CloudEvents of the outbox rows they wrote.

let payments: PaymentsProvider;
beforeAll(async () => {
  payments = await startPaymentsProvider();
});
afterAll(() => payments?.close());

describe('payments', () => {
  it('honours the pacts of its consumers', async () => {
    const { baseUrl, token, stateHandlers, messageProviders } = payments;
    await verifyProvider({ provider: 'payments', consumers: ['orders', 'users'], baseUrl, token, stateHandlers, messageProviders });
  });
});
