import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@agora/testing';
import { supportedComponentTypes } from '../src/components/registry.ts';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { componentYaml, quietSdkLogger, resourcesDir, TestApp } from './app-support.ts';

// Loading components as daprd does: types it does not know stop the start, `secretKeyRef`s are
// read from a local secret store, and `scopes` hide a component from other apps.

const run = randomUUID().slice(0, 8);
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const redisKeys: string[] = [];
const started: RunningSidecar[] = [];

async function sidecar(options: Parameters<typeof startSidecar>[0]): Promise<RunningSidecar> {
  const running = await startSidecar({ logLevel: 'silent', ...options });
  started.push(running);
  return running;
}

const clientOf = (running: RunningSidecar) =>
  new DaprClient({ daprHost: '127.0.0.1', daprPort: String(running.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error, service: quietSdkLogger } });

/** A Component whose metadata items are given as YAML flow mappings (for secretKeyRef), with an auth.secretStore. */
function componentWithSecrets(name: string, type: string, items: string[], secretStore: string): string {
  return [
    'apiVersion: dapr.io/v1alpha1',
    'kind: Component',
    `metadata: { name: ${name} }`,
    'spec:',
    `  type: ${type}`,
    '  version: v1',
    '  metadata:',
    ...items.map((item) => `    - ${item}`),
    'auth:',
    `  secretStore: ${secretStore}`,
  ].join('\n');
}

/** Runs `node dapr/src/main.ts` with these flags until it exits (or the deadline passes). */
async function runSidecarProcess(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, output };
}

afterAll(async () => {
  await Promise.all(started.splice(0).map((running) => running.stop()));
  if (redisKeys.length > 0) {
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await redis.del(...redisKeys);
    await redis.quit();
  }
});

describe('component types', () => {
  it('stops the sidecar process at start on an unknown type, naming the type, the file and the supported list', async () => {
    const dir = resourcesDir({ 'bindings.yaml': componentYaml('mail', 'bindings.smtp', { host: 'localhost' }) });
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const { code, output } = await runSidecarProcess(['--app-id', 'typed', '--dapr-http-port', String(httpPort), '--dapr-grpc-port', String(grpcPort), '--resources-path', dir]);
    expect(code).toBe(1);
    expect(output).toContain('component mail');
    expect(output).toContain('bindings.smtp');
    expect(output).toContain(join(dir, 'bindings.yaml'));
    expect(output).toContain(`supported types: ${supportedComponentTypes().join(', ')}`);
    for (const type of ['state.postgresql', 'state.redis', 'state.in-memory', 'pubsub.redis', 'pubsub.in-memory', 'secretstores.local.env', 'secretstores.local.file']) expect(output).toContain(type);
    // Nothing listens: it stopped before serving.
    await expect(fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz`)).rejects.toThrow();
  });

  it('ignores an unknown type in a component scoped to another app, as daprd does not load it', async () => {
    const dir = resourcesDir({ 'bindings.yaml': componentYaml('mail', 'bindings.smtp', {}, ['mailer']) });
    const running = await sidecar({ appId: 'not-mailer', httpPort: 0, resourcesPaths: [dir] });
    expect((await fetch(`${running.url}/v1.0/healthz/outbound`)).status).toBe(204);
  });
});

describe('secretKeyRef', () => {
  const appId = `components-${run}`;
  const envPrefix = `AGORA_COMPONENTS_TEST_${run.toUpperCase()}_`;

  it('resolves a metadata value from secretstores.local.env and from secretstores.local.file', async () => {
    const dir = resourcesDir({
      'secretstores.yaml': [
        componentYaml('envsecrets', 'secretstores.local.env', { prefix: envPrefix }),
        '---',
        componentYaml('filesecrets', 'secretstores.local.file', { secretsFile: 'secrets.json' }),
      ].join('\n'),
      'fromenv.yaml': componentWithSecrets('fromenv', 'state.redis', ['{ name: redisHost, secretKeyRef: { name: REDIS_HOST, key: REDIS_HOST } }'], 'envsecrets'),
      'fromfile.yaml': componentWithSecrets('fromfile', 'state.redis', ['{ name: redisHost, secretKeyRef: { name: "redis:host", key: "redis:host" } }', '{ name: keyPrefix, secretKeyRef: { name: "redis:prefix" } }'], 'filesecrets'),
    });
    writeFileSync(join(dir, 'secrets.json'), JSON.stringify({ redis: { host: '127.0.0.1:6379', prefix: `file-${run}` } }));
    const running = await sidecar({ appId, httpPort: 0, resourcesPaths: [dir], env: { [`${envPrefix}REDIS_HOST`]: '127.0.0.1:6379' } });
    const client = clientOf(running);
    redisKeys.push(`${appId}||from-env`, `file-${run}||from-file`);

    expect(await client.state.save('fromenv', [{ key: 'from-env', value: { via: 'env' } }])).not.toHaveProperty('error');
    expect(await client.state.save('fromfile', [{ key: 'from-file', value: { via: 'file' } }])).not.toHaveProperty('error');
    expect(await client.state.get('fromenv', 'from-env')).toEqual({ via: 'env' });
    expect(await client.state.get('fromfile', 'from-file')).toEqual({ via: 'file' });
    // The secrets reached the components: the values are in that Redis, under the prefix read from the file.
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    try {
      expect(await redis.hget(`${appId}||from-env`, 'data')).toBe(JSON.stringify({ via: 'env' }));
      expect(await redis.hget(`file-${run}||from-file`, 'data')).toBe(JSON.stringify({ via: 'file' }));
    } finally {
      await redis.quit();
    }
  });

  it('stops the start on a missing secret, naming the component, its file and the metadata field', async () => {
    const dir = resourcesDir({
      'secretstores.yaml': componentYaml('envsecrets', 'secretstores.local.env', { prefix: envPrefix }),
      'store.yaml': componentWithSecrets('orderstore', 'state.redis', ['{ name: redisPassword, secretKeyRef: { name: NOT_THERE, key: NOT_THERE } }'], 'envsecrets'),
    });
    const failing = startSidecar({ appId, httpPort: 0, resourcesPaths: [dir], logLevel: 'silent', env: {} });
    await expect(failing).rejects.toThrow(`component orderstore (${join(dir, 'store.yaml')}): metadata redisPassword: secret NOT_THERE/NOT_THERE is not in secret store envsecrets`);
  });

  it('stops the start when the secret store a component names is not loaded for this app', async () => {
    const dir = resourcesDir({
      'secretstores.yaml': componentYaml('envsecrets', 'secretstores.local.env', {}, ['someone-else']),
      'store.yaml': componentWithSecrets('orderstore', 'state.redis', ['{ name: redisHost, secretKeyRef: { name: REDIS_HOST } }'], 'envsecrets'),
    });
    await expect(startSidecar({ appId, httpPort: 0, resourcesPaths: [dir], logLevel: 'silent', env: { REDIS_HOST: '127.0.0.1:6379' } })).rejects.toThrow(
      /component orderstore \(.*store\.yaml\): metadata redisHost refers to a secret, but its auth\.secretStore envsecrets is not a loaded secret store/,
    );
  });
});

describe('scopes', () => {
  const dir = resourcesDir({
    'scoped.yaml': [
      componentYaml('privatestate', 'state.in-memory', {}, ['owner']),
      '---',
      componentYaml('privatepubsub', 'pubsub.in-memory', {}, ['owner']),
      '---',
      componentYaml('privatesecrets', 'secretstores.local.env', {}, ['owner']),
      '---',
      componentYaml('sharedstate', 'state.in-memory'),
      '---',
      componentYaml('sharedsecrets', 'secretstores.local.env'),
    ].join('\n'),
  });

  const componentNames = async (running: RunningSidecar) =>
    ((await (await fetch(`${running.url}/v1.0/metadata`)).json()) as { components: { name: string }[] }).components.map((component) => component.name).sort();

  it('loads a scoped component only for the listed app ids, as /v1.0/metadata shows', async () => {
    const owner = await sidecar({ appId: 'owner', httpPort: 0, resourcesPaths: [dir] });
    const other = await sidecar({ appId: 'other', httpPort: 0, resourcesPaths: [dir] });
    expect(await componentNames(owner)).toEqual(['privatepubsub', 'privatesecrets', 'privatestate', 'sharedsecrets', 'sharedstate']);
    expect(await componentNames(other)).toEqual(['sharedsecrets', 'sharedstate']);
  });

  it('answers a use of a component scoped to another app as an unknown component', async () => {
    const other = await sidecar({ appId: 'other', httpPort: 0, resourcesPaths: [dir], env: { SOME_SECRET: 'x' } });
    const client = clientOf(other);
    const state = await fetch(`${other.url}/v1.0/state/privatestate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ key: 'k', value: 1 }]) });
    expect(state.status).toBe(400);
    expect(await state.json()).toMatchObject({ errorCode: 'ERR_STATE_STORE_NOT_FOUND' });
    const publish = await client.pubsub.publish('privatepubsub', 'orders', { id: 1 });
    expect(publish.error).toBeDefined();
    const published = await fetch(`${other.url}/v1.0/publish/privatepubsub/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(published.status).toBe(404);
    expect(await published.json()).toMatchObject({ errorCode: 'ERR_PUBSUB_NOT_FOUND' });
    const secret = await fetch(`${other.url}/v1.0/secrets/privatesecrets/SOME_SECRET`);
    expect(secret.status).toBe(401);
    expect(await secret.json()).toMatchObject({ errorCode: 'ERR_SECRET_STORE_NOT_FOUND' });
    // The unscoped ones work for the same app.
    expect(await client.state.save('sharedstate', [{ key: 'k', value: 1 }])).not.toHaveProperty('error');
    expect(await client.secret.get('sharedsecrets', 'SOME_SECRET')).toEqual({ SOME_SECRET: 'x' });
  });
});

describe('/v1.0/healthz/outbound and /v1.0/healthz', () => {
  it('answers 204 on /outbound once the components are loaded, before the app is up, so the app can read secrets while it starts; /v1.0/healthz only once the app is up, as daprd', async () => {
    const dir = resourcesDir({ 'secrets.yaml': componentYaml('envsecrets', 'secretstores.local.env') });
    const app = new TestApp();
    app.port = await freePort();
    const running = await sidecar({ appId: 'starting', appPort: app.port, httpPort: 0, resourcesPaths: [dir], env: { BOOT_TOKEN: 't0k3n' } });
    const outbound = await fetch(`${running.url}/v1.0/healthz/outbound`);
    expect(outbound.status).toBe(204);
    expect(await outbound.text()).toBe('');
    expect(await (await fetch(`${running.url}/v1.0/secrets/envsecrets/BOOT_TOKEN`)).json()).toEqual({ BOOT_TOKEN: 't0k3n' });
    // The app is not reachable yet; once it comes up, the same sidecar reaches it.
    expect((await fetch(`${running.url}/v1.0/invoke/starting/method/hello`)).status).toBe(500);
    const notReady = await fetch(`${running.url}/v1.0/healthz`);
    expect(notReady.status).toBe(500);
    expect(await notReady.json()).toMatchObject({ errorCode: 'ERR_HEALTH_NOT_READY' });
    await app.start();
    try {
      await expect.poll(async () => (await fetch(`${running.url}/v1.0/healthz`)).status, { timeout: 5_000 }).toBe(204);
      expect((await fetch(`${running.url}/v1.0/invoke/starting/method/hello`)).status).toBe(404);
      expect(app.received.map((request) => request.path)).toEqual(['/hello']);
    } finally {
      await app.stop();
    }
  });

  it('is not served before the components are loaded: a start that fails never answers', async () => {
    const dir = resourcesDir({ 'bad.yaml': componentYaml('bad', 'state.cassandra') });
    const httpPort = await freePort();
    await expect(startSidecar({ appId: 'never', httpPort, resourcesPaths: [dir], logLevel: 'silent' })).rejects.toThrow(/state\.cassandra/);
    await expect(fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz/outbound`)).rejects.toThrow();
  });
});
