import { Migration } from '@mikro-orm/migrations';

export class Migration20261122020902 extends Migration {

  override name = 'Migration20261122020902';

  override up(): void | Promise<void> {
    this.addSql(`create table "outbox_events" ("id" uuid not null, "type" varchar(100) not null, "topic" varchar(100) not null, "source" varchar(100) not null, "subject" varchar(200) null, "data" jsonb not null, "created_at" timestamptz not null, "sent_at" timestamptz null, "publish_attempts" int not null default 0, "traceparent" varchar(55) null, primary key ("id"));`);
    this.addSql(`create index "outbox_events_unsent_idx" on "outbox_events" ("created_at") where "sent_at" is null;`);

    this.addSql(`create table "provider_webhook_events" ("id" varchar(100) not null, "type" varchar(100) not null, "provider_payment_id" varchar(64) not null, "received_at" timestamptz not null, primary key ("id"));`);

    this.addSql(`create table "refunds" ("id" uuid not null, "payment_id" uuid not null, "order_id" uuid not null, "amount" int not null, "currency" varchar(3) not null, "reason" varchar(500) not null, "provider_refund_id" varchar(64) not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "refunds" add constraint "refunds_payment_id_unique" unique ("payment_id");`);
    this.addSql(`create index "refunds_order_id_index" on "refunds" ("order_id");`);

    this.addSql(`create table "simulated_provider_charges" ("idempotency_key" varchar(200) not null, "id" varchar(64) not null, "reference" varchar(200) not null, "amount" int null, "currency" varchar(3) null, "method" varchar(64) null, "status" text not null, "reason" varchar(200) null, "attempts" int not null, "confirm_at" timestamptz null, "refund_id" varchar(64) null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("idempotency_key"));`);
    this.addSql(`alter table "simulated_provider_charges" add constraint "simulated_provider_charges_id_unique" unique ("id");`);
    this.addSql(`create index "simulated_provider_charges_reference_index" on "simulated_provider_charges" ("reference");`);

    this.addSql(`alter table "payments" drop constraint "payments_status_check";`);
    this.addSql(`alter table "payments" add "provider_payment_id" varchar(64) null, add "status_reason" varchar(500) null;`);
    this.addSql(`alter table "payments" add constraint "payments_provider_payment_id_unique" unique ("provider_payment_id");`);
    this.addSql(`alter table "payments" add constraint "payments_status_check" check ("status" in ('PENDING', 'PENDING_CONFIRMATION', 'AUTHORIZED', 'CAPTURED', 'DECLINED', 'REFUNDED', 'FAILED', 'CANCELED'));`);

    this.addSql(`alter table "refunds" add constraint "refunds_amount_check" check (amount > 0);`);

    this.addSql(`alter table "simulated_provider_charges" add constraint "simulated_provider_charges_status_check" check ("status" in ('processing', 'requires_confirmation', 'succeeded', 'declined', 'failed', 'canceled', 'refunded'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "outbox_events" cascade;`);
    this.addSql(`drop table if exists "provider_webhook_events" cascade;`);
    this.addSql(`drop table if exists "refunds" cascade;`);
    this.addSql(`drop table if exists "simulated_provider_charges" cascade;`);

    this.addSql(`alter table "payments" drop constraint "payments_provider_payment_id_unique";`);
    this.addSql(`alter table "payments" drop constraint "payments_status_check";`);
    this.addSql(`alter table "payments" drop column "provider_payment_id", drop column "status_reason";`);
    this.addSql(`alter table "payments" add constraint "payments_status_check" check ("status" in ('PENDING', 'AUTHORIZED', 'CAPTURED', 'DECLINED', 'REFUNDED', 'FAILED'));`);
  }

}
