import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122004844 } from './Migration20261122004844.ts';
import { Migration20261122020357 } from './Migration20261122020357.ts';
import { Migration20261208012148 } from './Migration20261208012148.ts';

// Applied in this order; `pnpm --filter @agora/inventory migration:create` writes new ones.
export const migrations: MigrationObject[] = [
  { name: 'Migration20261122004844', class: Migration20261122004844 },
  { name: 'Migration20261122020357', class: Migration20261122020357 },
  { name: 'Migration20261208012148', class: Migration20261208012148 },
];
