#!/usr/bin/env node
// `npm start` builds the web app before launching, but only when a source changed since the last
// build: a start with an unchanged app skips Vite's ~3 s. Plain JavaScript, run by the project's Node.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(webDir, 'dist', 'index.html');
const sources = ['src', 'index.html', 'vite.config.ts', 'package.json', '../pnpm-lock.yaml', '../packages/service/src/errors.ts', '../packages/internal-api/src/payment-methods.ts'];

function newestChange(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestChange(join(path, name))));
}

const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
const changedAt = Math.max(...sources.map((source) => join(webDir, source)).filter((path) => existsSync(path)).map(newestChange));
if (builtAt > changedAt) {
  console.error('web: dist/ is up to date');
  process.exit(0);
}
const result = spawnSync('pnpm', ['exec', 'vite', 'build', '--logLevel', 'warn'], { cwd: webDir, stdio: 'inherit' });
process.exit(result.status ?? 1);
