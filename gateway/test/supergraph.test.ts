import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { composeSupergraph, supergraphPath } from '../src/supergraph.ts';

describe('supergraph', () => {
  it('composes from the subgraph schemas', () => {
    expect(() => composeSupergraph()).not.toThrow();
  });

  it('is checked in as composed from the current subgraph schemas (run `pnpm compose` when this fails)', () => {
    expect(readFileSync(supergraphPath, 'utf8')).toBe(composeSupergraph());
  });
});
