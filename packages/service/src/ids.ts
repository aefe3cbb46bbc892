import { z } from 'zod';
import { badInput } from './errors.ts';

const uuid = z.uuid();

export const isUuid = (value: string): boolean => uuid.safeParse(value).success;

/** Ids are UUIDs; anything else is the caller's mistake, reported before it reaches SQL. */
export function parseId(value: string, what = 'id'): string {
  if (!isUuid(value)) throw badInput(`${what} must be a UUID`, { [what]: value });
  return value.toLowerCase();
}
