// Database commands for a service: `node packages/service/src/cli.ts <command> <service dir>`.
// Commands: migration:create [name], migration:up, migration:pending, seed.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { DatabaseModule } from './database.ts';
import { ormOptions } from './database.ts';
import { parseEnv, envField } from './env.ts';

const [command, serviceDir, name] = process.argv.slice(2);
if (!command || !serviceDir) {
  console.error('usage: cli.ts <migration:create|migration:up|migration:pending|seed> <service dir> [migration name]');
  process.exit(2);
}
const env = parseEnv(z.object({ DATABASE_URL: envField.url('a PostgreSQL URL: postgres://user@host:5432/database') }), process.env);
const module = (await import(pathToFileURL(resolve(serviceDir, 'src/database.ts')).href)) as { database: DatabaseModule };
const orm = await MikroORM.init(ormOptions({ ...module.database, migrationsPath: resolve(serviceDir, module.database.migrationsPath) }, env.DATABASE_URL));
try {
  switch (command) {
    case 'migration:create': {
      const result = await orm.migrator.create(undefined, false, false, name);
      console.log(result.fileName ? `created ${result.fileName}; add it to src/migrations/index.ts` : 'no schema changes');
      break;
    }
    case 'migration:up':
      console.log((await orm.migrator.up()).map((m) => m.name).join('\n') || 'nothing to apply');
      break;
    case 'migration:pending':
      console.log((await orm.migrator.getPending()).map((m) => m.name).join('\n') || 'none');
      break;
    case 'seed':
      if (module.database.seeder) await orm.seeder.seed(module.database.seeder);
      break;
    default:
      console.error(`unknown command ${command}`);
      process.exitCode = 2;
  }
} finally {
  await orm.close();
}
