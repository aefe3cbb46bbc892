import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledRealmFile, startOidcProvider, type RunningOidcProvider } from '@agora/keycloak';
import { createClientCredentialsTokenSource, createOidcTokenVerifier, isUser } from '../src/index.ts';

const client = { clientId: 'agora-gateway-anonymous', clientSecret: 'agora-gateway-anonymous-dev-secret' };

let realmDir: string;
let oidc: RunningOidcProvider;
let shortLived: RunningOidcProvider;
beforeAll(async () => {
  oidc = await startOidcProvider({ port: 0 });
  realmDir = await mkdtemp(join(tmpdir(), 'agora-realm-'));
  const realm = JSON.parse(await readFile(bundledRealmFile, 'utf8')) as Record<string, unknown>;
  await writeFile(join(realmDir, 'realm.json'), JSON.stringify({ ...realm, accessTokenLifespan: 2 }));
  shortLived = await startOidcProvider({ port: 0, realmFile: join(realmDir, 'realm.json') });
});
afterAll(async () => {
  await oidc?.close();
  await shortLived?.close();
  if (realmDir) await rm(realmDir, { recursive: true, force: true });
});

describe('the client credentials token source', () => {
  it("gets an access token for the gateway's audience whose service account is not a user", async () => {
    const token = await createClientCredentialsTokenSource({ issuer: oidc.issuer, ...client }).token();
    const caller = await createOidcTokenVerifier({ issuer: oidc.issuer, audience: 'agora-gateway' }).verify(token);
    expect(caller.roles).toEqual([]);
    expect(isUser(caller)).toBe(false);
  });

  it('hands out the cached token while it is fresh, to concurrent callers too', async () => {
    const source = createClientCredentialsTokenSource({ issuer: oidc.issuer, ...client });
    const [first, concurrent] = await Promise.all([source.token(), source.token()]);
    expect(concurrent).toBe(first);
    expect(await source.token()).toBe(first);
  });

  it('fetches a new token once the cached one nears expiry', async () => {
    const source = createClientCredentialsTokenSource({ issuer: shortLived.issuer, ...client });
    const first = await source.token();
    const deadline = Date.now() + 5_000;
    let next = await source.token();
    while (next === first && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      next = await source.token();
    }
    expect(next).not.toBe(first);
    await expect(createOidcTokenVerifier({ issuer: shortLived.issuer, audience: 'agora-gateway', clockToleranceSeconds: 0 }).verify(next)).resolves.toBeTruthy();
  });

  it('rejects with the OAuth error when the issuer refuses the client secret', async () => {
    const source = createClientCredentialsTokenSource({ issuer: oidc.issuer, clientId: client.clientId, clientSecret: 'wrong' });
    await expect(source.token()).rejects.toThrow(/agora-gateway-anonymous .* failed: invalid_client/);
  });
});
