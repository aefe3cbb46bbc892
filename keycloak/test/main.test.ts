import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const children: ChildProcess[] = [];

function runWithEnv(env: Record<string, string>) {
  return spawnSync(process.execPath, [main], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
}

async function firstLine(child: ChildProcess): Promise<string> {
  if (child.stdout === null) throw new Error('child has no stdout');
  const lines = createInterface({ input: child.stdout });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('the oidc provider CLI', () => {
  it('prints one ready line with the issuer, serves it, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [main], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const line = await firstLine(child);
    const issuer = line.replace('oidc provider ready: ', '');
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer?: string };
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];

    expect(line).toMatch(/^oidc provider ready: http:\/\/127\.0\.0\.1:\d+\/realms\/agora$/);
    expect(discovery.issuer).toBe(issuer);
    expect(code).toBe(0);
  });

  it('exits non-zero naming PORT and its expected form when PORT is not a port number', () => {
    const result = runWithEnv({ PORT: 'eighty' });

    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/PORT must be a whole number between 0 and 65535/);
    expect(result.stderr).toContain('"eighty"');
  });

  it('exits non-zero naming the realm file when it cannot be read', () => {
    const result = runWithEnv({ PORT: '0', REALM_FILE: '/nonexistent/realm.json' });

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('cannot read realm file /nonexistent/realm.json');
  });
});
