import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRunFile, readText, readYaml, repoPath } from './support.ts';

const runFile = readRunFile();

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const steps = instructions(readText('Dockerfile'));
  const stages = steps.filter((step) => step.keyword === 'FROM');
  const finalStage = steps.slice(steps.lastIndexOf(stages.at(-1) ?? expect.fail('no FROM')));
  const argDefault = (name: string) => new RegExp(`^${name}=(\\S+)$`).exec(steps.find((step) => step.keyword === 'ARG' && step.args.startsWith(`${name}=`))?.args ?? '')?.[1];

  it('builds in stages and runs the final one as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const users = finalStage.filter((step) => step.keyword === 'USER').map((step) => step.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it('uses the Node of .node-version and the pnpm of package.json', () => {
    expect(argDefault('NODE_VERSION')).toBe(readText('.node-version').trim());
    expect(stages.every((stage) => stage.args.startsWith('node:${NODE_VERSION}'))).toBe(true);
    const packageManager = (JSON.parse(readText('package.json')) as { packageManager: string }).packageManager;
    expect(`pnpm@${argDefault('PNPM_VERSION') ?? ''}`).toBe(packageManager);
  });

  it('installs production dependencies from the lockfile for every app of dapr/dapr.yaml', () => {
    const install = steps.find((step) => step.keyword === 'RUN' && step.args.includes('pnpm install'))?.args ?? expect.fail('no pnpm install');
    expect(install).toContain('--frozen-lockfile');
    expect(install).toContain('--prod');
    const filters = [...install.matchAll(/--filter "([^"]+)\.\.\."/g)].map((match) => match[1]);
    const packages = runFile.apps.map((app) => (JSON.parse(readText(app.dir, 'package.json')) as { name: string }).name);
    expect(filters.sort()).toEqual(packages.sort());
  });

  it('checks health against the readiness endpoint with a script the image contains', () => {
    const healthcheck = finalStage.find((step) => step.keyword === 'HEALTHCHECK')?.args ?? expect.fail('no HEALTHCHECK');
    expect(healthcheck).toContain('/app/deploy/docker/healthcheck.ts');
    expect(readText('deploy', 'docker', 'healthcheck.ts')).toContain("'/health/ready'");
    const ignored = readText('.dockerignore').split('\n').filter((line) => line && !line.startsWith('#'));
    for (const required of ['**/node_modules', '.git', '.tools', '.data']) expect(ignored).toContain(required);
    // The script and the package.json that makes it an ES module (top-level await) must reach the image.
    for (const needed of ['deploy/docker/healthcheck.ts', 'deploy/package.json']) {
      for (const pattern of ignored) expect(needed === pattern || needed.startsWith(pattern.replace(/\/$/, '') + '/'), `${pattern} hides ${needed}`).toBe(false);
    }
    expect((JSON.parse(readText('deploy', 'package.json')) as { type?: string }).type).toBe('module');
    for (const app of runFile.apps) expect(ignored, app.dir).not.toContain(app.dir);
  });
});

describe('deploy/docker/healthcheck.ts', () => {
  let server: Server;
  let status = 200;
  let port = 0;
  beforeAll(async () => {
    server = createServer((request, response) => {
      response.writeHead(request.url === '/health/ready' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const run = async (env: Record<string, string>): Promise<number> => {
    try {
      await promisify(execFile)(process.execPath, [repoPath('deploy', 'docker', 'healthcheck.ts')], { env: { ...process.env, ...env }, timeout: 10_000 });
      return 0;
    } catch (error) {
      return (error as { code?: number }).code ?? -1;
    }
  };

  it('exits 0 while the app is ready and 1 once it answers 503', async () => {
    status = 200;
    expect(await run({ PORT: String(port) })).toBe(0);
    status = 503;
    expect(await run({ PORT: String(port) })).toBe(1);
  });

  it('exits 1 when nothing listens on the port', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await run({ PORT: String(freePort) })).toBe(1);
  });
});

describe('.github/workflows/ci.yml', () => {
  interface Workflow {
    on: Record<string, unknown>;
    jobs: Record<string, { services?: Record<string, unknown>; steps: { uses?: string; run?: string; with?: Record<string, string> }[] }>;
  }
  const workflow = readYaml('.github', 'workflows', 'ci.yml') as Workflow;
  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);

  it('runs on pushes and pull requests, with PostgreSQL beside the job and Redis (server and binary) installed', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push']);
    const services = Object.values(workflow.jobs).flatMap((job) => Object.keys(job.services ?? {}));
    expect(services).toContain('postgres');
    const install = steps.findIndex((step) => /apt-get install[^\n]*redis-server/.test(step.run ?? ''));
    expect(install).toBeGreaterThanOrEqual(0);
    expect(install).toBeLessThan(steps.findIndex((step) => step.run?.trim() === 'npm test'));
  });

  it("runs the README's test command with the Node of .node-version, and the composition check", () => {
    const setupNode = steps.find((step) => step.uses?.startsWith('actions/setup-node@'));
    expect(setupNode?.with?.['node-version-file']).toBe('.node-version');
    expect(readText('.ci', 'run')).toMatch(/^npm test$/m);
    expect(steps.map((step) => step.run?.trim())).toContain('npm test');
    expect(steps.some((step) => step.run?.includes('bootstrap.mjs compose') && step.run.includes('git diff --exit-code -- gateway/supergraph.graphql'))).toBe(true);
  });
});
