import { OutboxEvent } from '@agora/events';
import type { DatabaseModule } from '@agora/service';
import { migrations } from './migrations/index.ts';
import { Product } from './modules/product/product.entity.ts';
import { Restock } from './modules/product/restock.entity.ts';
import { Reservation } from './modules/reservation/reservation.entity.ts';
import { DatabaseSeeder } from './seeders/database.seeder.ts';

export const database: DatabaseModule = {
  entities: [Product, Restock, Reservation, OutboxEvent],
  migrations,
  migrationsPath: 'src/migrations',
  seeder: DatabaseSeeder,
};
