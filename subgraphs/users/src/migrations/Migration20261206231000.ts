import { Migration } from '@mikro-orm/migrations';

export class Migration20261206231000 extends Migration {

  override name = 'Migration20261206231000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "users" add "phone_number" varchar(16) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "users" drop column "phone_number";`);
  }

}
