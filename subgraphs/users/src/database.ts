import { OutboxEvent, ProcessedEvent } from '@agora/events';
import type { DatabaseModule } from '@agora/service';
import { migrations } from './migrations/index.ts';
import { NotificationDelivery } from './modules/notification/notification-delivery.entity.ts';
import { Notification } from './modules/notification/notification.entity.ts';
import { User } from './modules/user/user.entity.ts';
import { DatabaseSeeder } from './seeders/database.seeder.ts';

export const database: DatabaseModule = {
  // OutboxEvent too, though users publishes nothing yet: every service's database has the same event tables.
  entities: [User, Notification, NotificationDelivery, ProcessedEvent, OutboxEvent],
  migrations,
  migrationsPath: 'src/migrations',
  seeder: DatabaseSeeder,
};
