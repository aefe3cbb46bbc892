import { Migration } from '@mikro-orm/migrations';

export class Migration20261122005029 extends Migration {

  override name = 'Migration20261122005029';

  override up(): void | Promise<void> {
    this.addSql(`create table "users" ("id" varchar(255) not null, "username" varchar(255) not null, "email" varchar(320) not null, "first_name" varchar(100) null, "last_name" varchar(100) null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "users" cascade;`);
  }

}
