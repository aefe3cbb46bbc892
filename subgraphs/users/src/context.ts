import { byIdLoader, type BaseContext, type Loader } from '@agora/service';
import { Notification } from './modules/notification/notification.entity.ts';
import type { NotificationRepository } from './modules/notification/notification.repository.ts';
import { User, type UserEntity } from './modules/user/user.entity.ts';
import type { UserRepository } from './modules/user/user.repository.ts';

export interface Context extends BaseContext {
  users: UserRepository;
  userById: Loader<string, UserEntity | null>;
  notifications: NotificationRepository;
}

export const buildContext = (base: BaseContext): Context => ({
  ...base,
  users: base.em.getRepository(User),
  // User ids are the identity provider's subjects, not necessarily UUIDs.
  userById: byIdLoader(base.em, User, { isValidId: (id) => id.length > 0 && id.length <= 255 }),
  notifications: base.em.getRepository(Notification),
});
