import { hasRole, isUser, Role, type Caller } from '@agora/auth';
import { forbidden, unauthenticated } from './errors.ts';
import { audit, type Logger } from './logger.ts';

/** Where a role-restricted access is recorded in the audit log, and as what. */
export interface Audited {
  log: Logger;
  /** `orders.sagas.read`, `inventory.restockProduct`, … */
  action: string;
  resource?: string | undefined;
}

/** A signed-in customer or admin; a service token without either role counts as anonymous. */
export function requireCaller(caller: Caller | undefined): Caller {
  if (!isUser(caller)) throw unauthenticated();
  return caller;
}

/** An admin; with `audited`, the access (or its refusal) goes to the audit log. */
export function requireAdmin(caller: Caller | undefined, audited?: Audited): Caller {
  const known = requireCaller(caller);
  const allowed = hasRole(known, Role.ADMIN);
  if (audited) audit(audited.log, { action: audited.action, outcome: allowed ? 'allowed' : 'denied', actor: known, resource: audited.resource });
  if (!allowed) throw forbidden('This needs the admin role');
  return known;
}

/**
 * Customers reach only what they own; admins reach everything. With `audited`, an admin reaching
 * someone else's data and every refusal go to the audit log (owners reading their own do not).
 */
export function requireOwnerOrAdmin(caller: Caller | undefined, ownerId: string, audited?: Audited): Caller {
  const known = requireCaller(caller);
  if (known.sub === ownerId) return known;
  const allowed = hasRole(known, Role.ADMIN);
  if (audited) audit(audited.log, { action: audited.action, outcome: allowed ? 'allowed' : 'denied', actor: known, resource: audited.resource, owner: ownerId });
  if (!allowed) throw forbidden();
  return known;
}
