import { createHash, timingSafeEqual } from 'node:crypto';
import { passwordOf, type Realm, type RealmUser } from './realm.ts';

export type Authentication =
  | { readonly ok: true; readonly user: RealmUser }
  | { readonly ok: false; readonly reason: 'invalid-credentials' | 'disabled' };

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

// Hashing first gives equal-length buffers, so the comparison time does not leak the password length.
function samePassword(expected: string | undefined, given: string): boolean {
  const matches = timingSafeEqual(digest(expected ?? ''), digest(given));
  return expected !== undefined && matches;
}

export function authenticate(realm: Realm, login: string, password: string): Authentication {
  const user = realm.userByLogin(login);
  const valid = samePassword(user === undefined ? undefined : passwordOf(user), password);
  if (user === undefined || !valid) return { ok: false, reason: 'invalid-credentials' };
  if (!user.enabled) return { ok: false, reason: 'disabled' };
  return { ok: true, user };
}
