import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabases, testServerUrl } from '@agora/testing';
import { launch } from '../src/launch.ts';
import { readRunFile } from '../src/run-file.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function runFileWith(apps: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'agora-launch-'));
  tempDirs.push(dir);
  mkdirSync(join(dir, 'components'));
  const path = join(dir, 'dapr.yaml');
  writeFileSync(path, `version: 1\ncommon:\n  resourcesPath: components\napps:\n${apps}`);
  return path;
}

describe('the run file', () => {
  it('describes the four subgraphs and the gateway, as `dapr run -f` reads it', () => {
    const { apps, resourcesPath } = readRunFile(join(repo, 'dapr/dapr.yaml'));
    expect(resourcesPath).toBe(join(repo, 'components'));
    expect(apps.map((app) => app.id)).toEqual(['users', 'inventory', 'orders', 'payments', 'gateway']);
    for (const app of apps) {
      expect(app.env['PORT']).toBe(String(app.port));
      expect(app.env['OIDC_ISSUER_URL']).toMatch(/\/realms\/agora$/);
    }
  });

  it('is refused with the offending field named when malformed', () => {
    expect(() => readRunFile(runFileWith('  - appID: Bad_Id\n    appDirPath: .\n    appPort: 1\n    command: ["node"]\n'))).toThrow(/apps\.0\.appID/);
  });
});

describe('launch', () => {
  it('stops the whole launch with the failing app’s own output instead of hanging', async () => {
    const runFile = runFileWith(
      [
        '  - appID: sleeper',
        '    appDirPath: .',
        '    appPort: 1',
        '    command: ["node", "-e", "setInterval(() => {}, 1000)"]',
        '  - appID: broken',
        '    appDirPath: .',
        '    appPort: 1',
        `    command: ["node", "-e", "console.error('cannot reach the database'); process.exit(3)"]`,
        '',
      ].join('\n'),
    );
    const started = Date.now();
    const databasePrefix = `launch_${randomBytes(3).toString('hex')}`;
    try {
      await expect(
        launch({ runFile, dataDir: '/nonexistent', databaseUrl: testServerUrl().href, databasePrefix, oidcIssuerUrl: 'http://127.0.0.1:1/realms/agora', ports: 'auto', readyTimeoutMs: 20_000 }),
      ).rejects.toThrow(/broken exited with code 3 before it was ready:\s+cannot reach the database/);
    } finally {
      await dropDatabases([`${databasePrefix}_agora_dapr`]);
    }
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('a service with bad configuration', () => {
  it('exits non-zero naming the variable and the form it expects', () => {
    const result = spawnSync(process.execPath, ['src/index.ts'], {
      cwd: join(repo, 'subgraphs/inventory'),
      env: { PATH: process.env['PATH'], DATABASE_URL: 'not a url', PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/DATABASE_URL: expected a PostgreSQL URL/);
    expect(result.stderr).toMatch(/PORT: expected a TCP port number/);
    expect(result.stderr).toMatch(/OIDC_ISSUER_URL: .*it is not set/);
  });
});
