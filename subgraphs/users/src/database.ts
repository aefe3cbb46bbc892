import type { DatabaseModule } from '@agora/service';
import { migrations } from './migrations/index.ts';
import { User } from './modules/user/user.entity.ts';
import { DatabaseSeeder } from './seeders/database.seeder.ts';

export const database: DatabaseModule = {
  entities: [User],
  migrations,
  migrationsPath: 'src/migrations',
  seeder: DatabaseSeeder,
};
