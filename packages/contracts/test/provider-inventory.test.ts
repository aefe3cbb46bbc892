import { afterAll, beforeAll, describe, it } from 'vitest';
import { verifyProvider } from '../src/verify.ts';
import { startInventoryProvider, type InventoryProvider } from './inventory-provider.ts';

// Inventory as a provider: the checked-in pacts of its consumers (the orders saga) replayed against
// the real service on its own PostgreSQL database, each provider state set up through
// inventory's own entities and use cases, with a real service token on every request.

let inventory: InventoryProvider;
beforeAll(async () => {
  inventory = await startInventoryProvider();
});
afterAll(() => inventory?.close());

describe('inventory', () => {
  it('honours the pacts of its consumers', async () => {
    const { baseUrl, token, stateHandlers } = inventory;
    await verifyProvider({ provider: 'inventory', consumers: ['orders'], baseUrl, token, stateHandlers });
  });
});
