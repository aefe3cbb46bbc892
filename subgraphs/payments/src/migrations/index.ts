import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122005031 } from './Migration20261122005031.ts';
import { Migration20261122020902 } from './Migration20261122020902.ts';

// Applied in this order; `pnpm --filter @agora/payments migration:create` writes new ones.
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122005031', class: Migration20261122005031 },
  // Provider ids and reasons on payments, refunds, webhook events, the outbox and the simulated provider's records.
  { name: 'Migration20261122020902', class: Migration20261122020902 },
];
