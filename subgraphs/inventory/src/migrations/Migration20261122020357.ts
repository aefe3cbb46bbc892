import { Migration } from '@mikro-orm/migrations';

export class Migration20261122020357 extends Migration {

  override name = 'Migration20261122020357';

  override up(): void | Promise<void> {
    this.addSql(`create table "outbox_events" ("id" uuid not null, "type" varchar(100) not null, "topic" varchar(100) not null, "source" varchar(100) not null, "subject" varchar(200) null, "data" jsonb not null, "created_at" timestamptz not null, "sent_at" timestamptz null, "publish_attempts" int not null default 0, "traceparent" varchar(55) null, primary key ("id"));`);
    this.addSql(`create index "outbox_events_unsent_idx" on "outbox_events" ("created_at") where "sent_at" is null;`);

    this.addSql(`create table "reservations" ("id" uuid not null, "order_id" uuid not null, "product_id" uuid not null, "quantity" int not null, "status" text not null, "expires_at" timestamptz not null, "available_when_rejected" int null, "release_reason" varchar(200) null, "committed_at" timestamptz null, "released_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "reservations_product_id_index" on "reservations" ("product_id");`);
    this.addSql(`create index "reservations_expiry_idx" on "reservations" ("expires_at") where "status" = 'RESERVED';`);
    this.addSql(`alter table "reservations" add constraint "reservations_order_id_product_id_unique" unique ("order_id", "product_id");`);

    this.addSql(`alter table "reservations" add constraint "reservations_product_id_foreign" foreign key ("product_id") references "products" ("id");`);
    this.addSql(`alter table "reservations" add constraint "reservations_quantity_check" check (quantity > 0);`);
    this.addSql(`alter table "reservations" add constraint "reservations_status_check" check ("status" in ('RESERVED', 'COMMITTED', 'RELEASED', 'REJECTED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "outbox_events" cascade;`);
    this.addSql(`drop table if exists "reservations" cascade;`);
  }

}
