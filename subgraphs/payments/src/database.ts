import type { DatabaseModule } from '@agora/service';
import { migrations } from './migrations/index.ts';
import { Payment } from './modules/payment/payment.entity.ts';
import { DatabaseSeeder } from './seeders/database.seeder.ts';

export const database: DatabaseModule = {
  entities: [Payment],
  migrations,
  migrationsPath: 'src/migrations',
  seeder: DatabaseSeeder,
};
