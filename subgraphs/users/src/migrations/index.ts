import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122005029 } from './Migration20261122005029.ts';

// Applied in this order; `pnpm --filter @agora/users migration:create` writes new ones.
export const migrations: MigrationObject[] = [{ name: 'Migration20261122005029', class: Migration20261122005029 }];
