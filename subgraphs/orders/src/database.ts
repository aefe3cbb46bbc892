import type { DatabaseModule } from '@agora/service';
import { migrations } from './migrations/index.ts';
import { OrderLine } from './modules/order/order-line.entity.ts';
import { Order } from './modules/order/order.entity.ts';
import { SagaStep } from './modules/saga/saga-step.entity.ts';
import { OutboxEvent, ProcessedEvent } from '@agora/events';
import { DatabaseSeeder } from './seeders/database.seeder.ts';

export const database: DatabaseModule = {
  entities: [Order, OrderLine, SagaStep, OutboxEvent, ProcessedEvent],
  migrations,
  migrationsPath: 'src/migrations',
  seeder: DatabaseSeeder,
};
