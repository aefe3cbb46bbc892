import { createHash } from 'node:crypto';
import { badInput } from './errors.ts';

// An idempotency key lets a client send a mutation again after losing its answer (the gateway's
// SERVICE_UNAVAILABLE says the change may or may not have been made): the same key with the same
// request answers without applying it twice; with another request it is IDEMPOTENCY_KEY_REUSED.

const KEY = /^[A-Za-z0-9_-]{8,100}$/;

/** Refuses a key that is not 8 to 100 letters, digits, "-" or "_" (a UUID is one). */
export function checkIdempotencyKey(key: string): string {
  if (!KEY.test(key)) throw badInput('idempotencyKey must be 8 to 100 letters, digits, "-" or "_" (a UUID works)');
  return key;
}

/** A digest of a request's parameters, to tell a resent request from another one under the same key. */
export const requestFingerprint = (request: unknown): string => createHash('sha256').update(JSON.stringify(request)).digest('hex');
