import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledRealmFile, loadRealm, parseRealm, RealmFileError, startOidcProvider } from '../src/index.ts';
import { ALICE_ID, SERVICE_ACCOUNT_ID } from './oidc-client.ts';

type RealmJson = Record<string, unknown> & { clients: Record<string, unknown>[]; users: Record<string, unknown>[] };

function bundledExport(): RealmJson {
  const parsed: unknown = JSON.parse(readFileSync(bundledRealmFile, 'utf8'));
  return parsed as RealmJson;
}

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agora-realm-'));
  tempDirs.push(dir);
  const path = join(dir, 'realm.json');
  await writeFile(path, content);
  return path;
}

describe('the realm export', () => {
  it('loads the bundled agora realm with its clients, users and service account', async () => {
    const realm = await loadRealm();

    expect(realm.name).toBe('agora');
    expect(realm.accessTokenLifespan).toBe(300);
    expect(realm.clients.map((client) => client.clientId)).toEqual(['agora-gateway', 'agora-web', 'agora-cli', 'agora-service', 'agora-gateway-anonymous']);
    expect(realm.userByLogin('ALICE')?.id).toBe(ALICE_ID);
    expect(realm.userByLogin('alice@agora.test')?.id).toBe(ALICE_ID);
    expect(realm.serviceAccount('agora-service')?.id).toBe(SERVICE_ACCOUNT_ID);
    expect(realm.userByLogin('service-account-agora-service')).toBeUndefined();
  });

  it('names the field when a user has a role the realm does not define', () => {
    const realm = bundledExport();
    realm.users[1] = { ...realm.users[1], realmRoles: ['customer', 'superuser'] };

    expect(() => parseRealm(realm)).toThrow(RealmFileError);
    expect(() => parseRealm(realm)).toThrow(/users\[1\]\.realmRoles\[1\]: unknown realm role "superuser"/);
  });

  it('names the field when a confidential client has no secret', () => {
    const realm = bundledExport();
    realm.clients[3] = { ...realm.clients[3], secret: undefined };

    expect(() => parseRealm(realm)).toThrow(/clients\[3\]\.secret/);
  });

  it('names the field when a value has the wrong type', () => {
    const realm = { ...bundledExport(), accessTokenLifespan: '300' };

    expect(() => parseRealm(realm)).toThrow(/accessTokenLifespan/);
  });

  it('names the file when it is not JSON', async () => {
    const path = await tempFile('{ "realm": ');

    await expect(loadRealm(path)).rejects.toThrow(`realm file ${path} is not valid JSON`);
  });

  it('keeps the provider from starting on an invalid realm file', async () => {
    const path = await tempFile(JSON.stringify({ ...bundledExport(), realm: 'no spaces allowed' }));

    await expect(startOidcProvider({ realmFile: path })).rejects.toThrow(/realm: must be a URL-safe realm name/);
  });

  it('serves whichever realm the file names, at that realm’s path', async () => {
    const path = await tempFile(JSON.stringify({ ...bundledExport(), realm: 'staging' }));
    const oidc = await startOidcProvider({ realmFile: path });
    try {
      const discovery = (await (await fetch(`${oidc.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string };

      expect(oidc.issuer).toMatch(/\/realms\/staging$/);
      expect(discovery.issuer).toBe(oidc.issuer);
    } finally {
      await oidc.close();
    }
  });
});
