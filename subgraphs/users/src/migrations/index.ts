import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122005029 } from './Migration20261122005029.ts';
import { Migration20261122021444 } from './Migration20261122021444.ts';
import { Migration20261206231000 } from './Migration20261206231000.ts';

// Applied in this order; `pnpm --filter @agora/users migration:create` writes new ones.
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122005029', class: Migration20261122005029 },
  // Notifications inbox and deliveries; the event tables (processed_events, outbox_events).
  { name: 'Migration20261122021444', class: Migration20261122021444 },
  // users.phone_number, for SMS notices.
  { name: 'Migration20261206231000', class: Migration20261206231000 },
];
