import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM, type EntitySchema, type Options } from '@mikro-orm/postgresql';
import { SeedManager, type Seeder } from '@mikro-orm/seeder';
import { DefaultLogger, type LogContext, type LoggerOptions, type MigrationObject } from '@mikro-orm/core';
import type { Logger } from './logger.ts';

/** What a service contributes to its database: entities, migrations, seed data. */
export interface DatabaseModule {
  /** Listed explicitly (no folder scanning), so start-up does no file discovery. */
  entities: EntitySchema[];
  migrations: MigrationObject[];
  /** Folder new migrations are written to by `migration:create`. */
  migrationsPath: string;
  seeder?: new () => Seeder;
}

/**
 * MikroORM's output in the service log: queries and discovery at debug (when debug is on), its
 * warnings and errors always. DefaultLogger drops every namespace unless debug mode is on, which
 * hid a dropped connection and a failed ROLLBACK from a service running at `warn`.
 */
class OrmLogger extends DefaultLogger {
  readonly #target: Logger;

  constructor(options: LoggerOptions, target: Logger) {
    super(options);
    this.#target = target;
  }

  override warn(namespace: string, message: string, context?: LogContext): void {
    this.#target.warn({ orm: namespace, ...(context?.label ? { label: context.label } : {}) }, message);
  }

  override error(namespace: string, message: string, context?: LogContext): void {
    this.#target.error({ orm: namespace, ...(context?.label ? { label: context.label } : {}) }, message);
  }
}

export function ormOptions(db: DatabaseModule, clientUrl: string, logger?: Logger, poolMax = 5): Options {
  return defineConfig({
    clientUrl,
    entities: db.entities,
    extensions: [Migrator, SeedManager],
    migrations: {
      migrationsList: db.migrations,
      path: db.migrationsPath,
      pathTs: db.migrationsPath,
      emit: 'ts',
      snapshot: false,
      transactional: true,
      allOrNothing: true,
    },
    pool: { min: 0, max: poolMax },
    ...(logger
      ? {
          loggerFactory: (options: LoggerOptions) => new OrmLogger({ ...options, writer: (message) => logger.debug(message) }, logger),
          debug: logger.isLevelEnabled('debug'),
        }
      : {}),
  });
}

export interface OpenDatabaseOptions {
  migrate: boolean;
  seed: boolean;
  logger: Logger;
  /** Connections the pool may hold (DATABASE_POOL_MAX). */
  poolMax?: number;
}

/** Connects (creating the database if missing), then applies pending migrations and seeds. */
export async function openDatabase(db: DatabaseModule, clientUrl: string, options: OpenDatabaseOptions): Promise<MikroORM> {
  const orm = await MikroORM.init(ormOptions(db, clientUrl, options.logger, options.poolMax));
  try {
    if (options.migrate) {
      const applied = await orm.migrator.up();
      if (applied.length > 0) options.logger.info({ migrations: applied.map((m) => m.name) }, 'applied migrations');
    }
    if (options.seed && db.seeder) {
      await orm.seeder.seed(db.seeder);
      options.logger.info('seed data in place');
    }
    return orm;
  } catch (error) {
    await orm.close();
    throw error;
  }
}
