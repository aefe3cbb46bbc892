import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { UserRepository } from './user.repository.ts';

export const User = defineEntity({
  name: 'User',
  tableName: 'users',
  repository: () => UserRepository,
  properties: {
    /** The identity provider's `sub`: users are never created here with an id of our own. */
    id: p.string().length(255).primary(),
    username: p.string().length(255),
    email: p.string().length(320),
    /** E.164 (+4915112345678), set by the user (setPhoneNumber); SMS notices go there. */
    phoneNumber: p.string().length(16).nullable(),
    firstName: p.string().length(100).nullable(),
    lastName: p.string().length(100).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type UserEntity = InferEntity<typeof User>;

export const displayName = (user: UserEntity): string =>
  [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username;
