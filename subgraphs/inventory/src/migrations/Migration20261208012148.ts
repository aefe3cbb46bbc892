import { Migration } from '@mikro-orm/migrations';

export class Migration20261208012148 extends Migration {

  override name = 'Migration20261208012148';

  override up(): void | Promise<void> {
    this.addSql(`create table "restocks" ("id" uuid not null, "product_id" uuid not null, "quantity" int not null, "actor" varchar(200) not null, "idempotency_key" varchar(100) null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "restocks_product_id_index" on "restocks" ("product_id");`);
    this.addSql(`alter table "restocks" add constraint "restocks_actor_idempotency_key_unique" unique ("actor", "idempotency_key");`);

    this.addSql(`alter table "restocks" add constraint "restocks_product_id_foreign" foreign key ("product_id") references "products" ("id");`);
    this.addSql(`alter table "restocks" add constraint "restocks_quantity_check" check (quantity > 0);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "restocks" cascade;`);
  }

}
