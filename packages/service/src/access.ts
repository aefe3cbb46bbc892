import { hasRole, Role, type Caller } from '@agora/auth';
import { forbidden, unauthenticated } from './errors.ts';

export function requireCaller(caller: Caller | undefined): Caller {
  if (!caller) throw unauthenticated();
  return caller;
}

export function requireAdmin(caller: Caller | undefined): Caller {
  const known = requireCaller(caller);
  if (!hasRole(known, Role.ADMIN)) throw forbidden('This needs the admin role');
  return known;
}

/** Customers reach only what they own; admins reach everything. */
export function requireOwnerOrAdmin(caller: Caller | undefined, ownerId: string): Caller {
  const known = requireCaller(caller);
  if (known.sub !== ownerId && !hasRole(known, Role.ADMIN)) throw forbidden();
  return known;
}
