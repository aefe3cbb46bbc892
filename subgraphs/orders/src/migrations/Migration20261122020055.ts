import { Migration } from '@mikro-orm/migrations';

export class Migration20261122020055 extends Migration {

  override name = 'Migration20261122020055';

  override up(): void | Promise<void> {
    this.addSql(`create table "outbox_events" ("id" uuid not null, "type" varchar(100) not null, "topic" varchar(100) not null, "source" varchar(100) not null, "subject" varchar(200) null, "data" jsonb not null, "created_at" timestamptz not null, "sent_at" timestamptz null, "publish_attempts" int not null default 0, "traceparent" varchar(55) null, primary key ("id"));`);
    this.addSql(`create index "outbox_events_unsent_idx" on "outbox_events" ("created_at") where "sent_at" is null;`);

    this.addSql(`create table "processed_events" ("event_id" uuid not null, "consumer" varchar(100) not null, "type" varchar(100) not null, "processed_at" timestamptz not null, primary key ("event_id", "consumer"));`);

    this.addSql(`create table "saga_steps" ("order_id" uuid not null, "name" varchar(100) not null, "compensation" boolean not null default false, "status" text not null, "attempts" int not null default 0, "started_at" timestamptz not null, "ended_at" timestamptz null, "error" text null, primary key ("order_id", "name"));`);

    this.addSql(`alter table "orders" add "payment_method" varchar(100) null, add "status_reason" text null;`);

    this.addSql(`alter table "saga_steps" add constraint "saga_steps_status_check" check ("status" in ('RUNNING', 'SUCCEEDED', 'REJECTED', 'FAILED', 'SKIPPED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "outbox_events" cascade;`);
    this.addSql(`drop table if exists "processed_events" cascade;`);
    this.addSql(`drop table if exists "saga_steps" cascade;`);

    this.addSql(`alter table "orders" drop column "payment_method", drop column "status_reason";`);
  }

}
