import { OutboxEvent } from '@agora/events';
import type { DatabaseModule } from '@agora/service';
import { migrations } from './migrations/index.ts';
import { Payment } from './modules/payment/payment.entity.ts';
import { ProviderWebhookEvent } from './modules/payment/provider-webhook-event.entity.ts';
import { Refund } from './modules/payment/refund.entity.ts';
import { SimulatedCharge } from './modules/provider/simulated/simulated-charge.entity.ts';
import { DatabaseSeeder } from './seeders/database.seeder.ts';

export const database: DatabaseModule = {
  entities: [Payment, Refund, ProviderWebhookEvent, OutboxEvent, SimulatedCharge],
  migrations,
  migrationsPath: 'src/migrations',
  seeder: DatabaseSeeder,
};
