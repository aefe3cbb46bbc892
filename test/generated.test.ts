import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../codegen.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('generated resolver types', () => {
  it('match the current subgraph schemas (run `pnpm codegen` when this fails)', async () => {
    const files = (await generate({ ...config, cwd: root, silent: true }, false)) as { filename: string; content: string }[];
    expect(files).toHaveLength(4);
    for (const file of files) expect(readFileSync(resolve(root, file.filename), 'utf8'), file.filename).toBe(file.content);
  });
});
