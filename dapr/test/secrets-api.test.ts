import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';

const envPrefix = `AGORA_SECRETS_TEST_${randomBytes(4).toString('hex').toUpperCase()}_`;
const quietLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, verbose: () => undefined, debug: () => undefined };

const COMPONENTS = `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: filestore }
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - { name: secretsFile, value: secrets.json }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: envstore }
spec:
  type: secretstores.local.env
  version: v1
  metadata:
    - { name: prefix, value: ${envPrefix} }
`;

let resourcesDir: string;
let sidecar: RunningSidecar;
let client: DaprClient;

beforeAll(async () => {
  resourcesDir = mkdtempSync(join(tmpdir(), 'secrets-api-'));
  writeFileSync(join(resourcesDir, 'secrets.json'), JSON.stringify({ 'db-password': 's3cret', smtp: { user: 'mailer', port: 587 } }));
  writeFileSync(join(resourcesDir, 'components.yaml'), COMPONENTS);
  const env = { [`${envPrefix}API_KEY`]: 'from-env', UNPREFIXED: 'hidden' };
  sidecar = await startSidecar({ appId: 'secrets-app', httpPort: 0, resourcesPaths: [resourcesDir], logLevel: 'silent', env });
  client = new DaprClient({
    daprHost: '127.0.0.1',
    daprPort: String(sidecar.httpPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    logger: { level: LogLevel.Error, service: quietLogger },
  });
});

afterAll(async () => {
  await client?.stop();
  await sidecar?.stop();
  if (resourcesDir) rmSync(resourcesDir, { recursive: true, force: true });
});

const secrets = (path: string) => fetch(`${sidecar.url}/v1.0/secrets/${path}`);
const errorOf = async (response: Response) => (await response.json()) as { errorCode: string; message: string };

describe('secrets API', () => {
  it('returns a secret as { name: value } through the SDK', async () => {
    expect(await client.secret.get('filestore', 'db-password')).toEqual({ 'db-password': 's3cret' });
    expect(await client.secret.get('envstore', 'API_KEY')).toEqual({ API_KEY: 'from-env' });
  });

  it('flattens nested file secrets with ":" as daprd does', async () => {
    const response = await secrets('filestore/smtp:port');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ 'smtp:port': '587' });
  });

  it('returns every secret of a store from bulk, by name', async () => {
    expect(await client.secret.getBulk('filestore')).toEqual({
      'db-password': { 'db-password': 's3cret' },
      'smtp:user': { 'smtp:user': 'mailer' },
      'smtp:port': { 'smtp:port': '587' },
    });
  });

  it('lists only the prefixed environment variables, without the prefix, in the env store bulk', async () => {
    const response = await secrets('envstore/bulk');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ API_KEY: { API_KEY: 'from-env' } });
  });

  it('answers a secret missing from the file with 500 ERR_SECRET_GET', async () => {
    const response = await secrets('filestore/nope');
    expect(response.status).toBe(500);
    expect(await errorOf(response)).toEqual({
      errorCode: 'ERR_SECRET_GET',
      message: 'failed getting secret with key nope from secret store filestore: secret nope not found',
    });
  });

  it('answers an unset environment secret with an empty value, as daprd does', async () => {
    const response = await secrets('envstore/UNSET_ONE');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ UNSET_ONE: '' });
  });

  it('answers an unknown store with 401 ERR_SECRET_STORE_NOT_FOUND, for one secret and for bulk', async () => {
    for (const path of ['vault/db-password', 'vault/bulk']) {
      const response = await secrets(path);
      expect(response.status).toBe(401);
      expect(await errorOf(response)).toEqual({ errorCode: 'ERR_SECRET_STORE_NOT_FOUND', message: 'failed finding secret store with key vault' });
    }
  });
});

describe('secrets API without secret stores', () => {
  it('answers 500 ERR_SECRET_STORES_NOT_CONFIGURED', async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), 'secrets-api-empty-'));
    const bare = await startSidecar({ appId: 'bare-app', httpPort: 0, resourcesPaths: [emptyDir], logLevel: 'silent' });
    try {
      for (const path of ['any/name', 'any/bulk']) {
        const response = await fetch(`${bare.url}/v1.0/secrets/${path}`);
        expect(response.status).toBe(500);
        expect(await errorOf(response)).toEqual({ errorCode: 'ERR_SECRET_STORES_NOT_CONFIGURED', message: 'secret store is not configured' });
      }
    } finally {
      await bare.stop();
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});
