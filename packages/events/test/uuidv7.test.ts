import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../src/uuidv7.ts';

describe('uuidv7', () => {
  it('makes version 7 UUIDs that sort in the order they were made, also many within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    expect(ids.every((id) => z.uuid({ version: 'v7' }).safeParse(id).success)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carries the current time in its first 48 bits', () => {
    const before = Date.now();
    const ms = Number.parseInt(uuidv7().replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now() + 5);
  });
});
