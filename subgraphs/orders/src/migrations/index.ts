import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122005043 } from './Migration20261122005043.ts';
import { Migration20261122020055 } from './Migration20261122020055.ts';

// Applied in this order; `pnpm --filter @agora/orders migration:create` writes new ones.
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122005043', class: Migration20261122005043 },
  { name: 'Migration20261122020055', class: Migration20261122020055 },
];
