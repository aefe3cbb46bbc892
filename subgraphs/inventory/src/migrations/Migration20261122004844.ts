import { Migration } from '@mikro-orm/migrations';

export class Migration20261122004844 extends Migration {

  override name = 'Migration20261122004844';

  override up(): void | Promise<void> {
    this.addSql(`create table "products" ("id" uuid not null, "sku" varchar(32) not null, "name" varchar(200) not null, "description" text not null, "price_amount" int not null, "currency" varchar(3) not null, "stock_on_hand" int not null, "stock_reserved" int not null default 0, "version" int not null default 1, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "products" add constraint "products_sku_unique" unique ("sku");`);

    this.addSql(`alter table "products" add constraint "products_stock_check" check (stock_reserved >= 0 and stock_reserved <= stock_on_hand);`);
    this.addSql(`alter table "products" add constraint "products_price_check" check (price_amount >= 0);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "products" cascade;`);
  }

}
