import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122005031 } from './Migration20261122005031.ts';

// Applied in this order; `pnpm --filter @agora/payments migration:create` writes new ones.
export const migrations: MigrationObject[] = [{ name: 'Migration20261122005031', class: Migration20261122005031 }];
