import { Migration } from '@mikro-orm/migrations';

export class Migration20261122005043 extends Migration {

  override name = 'Migration20261122005043';

  override up(): void | Promise<void> {
    this.addSql(`create table "orders" ("id" uuid not null, "customer_id" varchar(255) not null, "status" text not null, "total_amount" int not null, "currency" varchar(3) not null, "version" int not null default 1, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "orders_customer_id_index" on "orders" ("customer_id");`);

    this.addSql(`create table "order_lines" ("id" uuid not null, "order_id" uuid not null, "product_id" uuid not null, "quantity" int not null, "unit_price_amount" int not null, primary key ("id"));`);
    this.addSql(`create index "order_lines_order_id_index" on "order_lines" ("order_id");`);

    this.addSql(`alter table "orders" add constraint "orders_total_check" check (total_amount >= 0);`);
    this.addSql(`alter table "orders" add constraint "orders_status_check" check ("status" in ('PENDING', 'CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'));`);

    this.addSql(`alter table "order_lines" add constraint "order_lines_order_id_foreign" foreign key ("order_id") references "orders" ("id") on delete cascade;`);
    this.addSql(`alter table "order_lines" add constraint "order_lines_quantity_check" check (quantity > 0 and unit_price_amount >= 0);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "order_lines" drop constraint "order_lines_order_id_foreign";`);

    this.addSql(`drop table if exists "orders" cascade;`);
    this.addSql(`drop table if exists "order_lines" cascade;`);
  }

}
