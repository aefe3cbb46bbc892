import { Migration } from '@mikro-orm/migrations';

export class Migration20261122021444 extends Migration {

  override name = 'Migration20261122021444';

  override up(): void | Promise<void> {
    this.addSql(`create table "notifications" ("id" uuid not null, "user_id" varchar(255) not null, "kind" text not null, "title" varchar(200) not null, "body" text not null, "order_id" uuid null, "event_id" uuid not null, "created_at" timestamptz not null, "read_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "notifications" add constraint "notifications_event_id_unique" unique ("event_id");`);
    this.addSql(`create index "notifications_user_id_created_at_id_idx" on "notifications" ("user_id", "created_at", "id");`);

    this.addSql(`create table "notification_deliveries" ("id" uuid not null, "notification_id" uuid not null, "channel" text not null, "masked_address" varchar(320) null, "status" text not null, "attempts" int not null default 0, "last_error" varchar(500) null, "sent_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "notification_deliveries_notification_id_index" on "notification_deliveries" ("notification_id");`);
    this.addSql(`create index "notification_deliveries_unfinished_idx" on "notification_deliveries" ("updated_at") where "status" in ('PENDING', 'FAILED');`);

    this.addSql(`create table "outbox_events" ("id" uuid not null, "type" varchar(100) not null, "topic" varchar(100) not null, "source" varchar(100) not null, "subject" varchar(200) null, "data" jsonb not null, "created_at" timestamptz not null, "sent_at" timestamptz null, "publish_attempts" int not null default 0, "traceparent" varchar(55) null, primary key ("id"));`);
    this.addSql(`create index "outbox_events_unsent_idx" on "outbox_events" ("created_at") where "sent_at" is null;`);

    this.addSql(`create table "processed_events" ("event_id" uuid not null, "consumer" varchar(100) not null, "type" varchar(100) not null, "processed_at" timestamptz not null, primary key ("event_id", "consumer"));`);

    this.addSql(`alter table "notifications" add constraint "notifications_kind_check" check ("kind" in ('ORDER_PLACED', 'ORDER_CONFIRMED', 'ORDER_CANCELLED', 'ORDER_NEEDS_ATTENTION', 'PAYMENT_SUCCEEDED', 'PAYMENT_FAILED', 'PAYMENT_REFUNDED'));`);

    this.addSql(`alter table "notification_deliveries" add constraint "notification_deliveries_notification_id_foreign" foreign key ("notification_id") references "notifications" ("id");`);
    this.addSql(`alter table "notification_deliveries" add constraint "notification_deliveries_channel_check" check ("channel" in ('EMAIL', 'SMS'));`);
    this.addSql(`alter table "notification_deliveries" add constraint "notification_deliveries_status_check" check ("status" in ('PENDING', 'SENT', 'FAILED', 'SKIPPED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "notification_deliveries" drop constraint "notification_deliveries_notification_id_foreign";`);

    this.addSql(`drop table if exists "notifications" cascade;`);
    this.addSql(`drop table if exists "notification_deliveries" cascade;`);
    this.addSql(`drop table if exists "outbox_events" cascade;`);
    this.addSql(`drop table if exists "processed_events" cascade;`);
  }

}
