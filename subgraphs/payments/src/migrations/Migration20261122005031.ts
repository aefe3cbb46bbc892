import { Migration } from '@mikro-orm/migrations';

export class Migration20261122005031 extends Migration {

  override name = 'Migration20261122005031';

  override up(): void | Promise<void> {
    this.addSql(`create table "payments" ("id" uuid not null, "order_id" uuid not null, "customer_id" varchar(255) not null, "status" text not null, "amount" int not null, "currency" varchar(3) not null, "method" varchar(64) not null, "version" int not null default 1, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "payments" add constraint "payments_order_id_unique" unique ("order_id");`);
    this.addSql(`create index "payments_customer_id_index" on "payments" ("customer_id");`);

    this.addSql(`alter table "payments" add constraint "payments_amount_check" check (amount >= 0);`);
    this.addSql(`alter table "payments" add constraint "payments_status_check" check ("status" in ('PENDING', 'AUTHORIZED', 'CAPTURED', 'DECLINED', 'REFUNDED', 'FAILED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "payments" cascade;`);
  }

}
