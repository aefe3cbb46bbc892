import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledRealmFile, startOidcProvider, type RunningOidcProvider } from '@agora/keycloak';
import { AuthenticationError, createClientCredentialsTokenSource, createOidcTokenVerifier } from '../src/index.ts';

// The verified-token cache of ADR 0015: a remembered token skips only the signature check.

const client = { clientId: 'agora-gateway-anonymous', clientSecret: 'agora-gateway-anonymous-dev-secret' };

let realmDir: string;
let shortLived: RunningOidcProvider;
beforeAll(async () => {
  realmDir = await mkdtemp(join(tmpdir(), 'agora-realm-'));
  const realm = JSON.parse(await readFile(bundledRealmFile, 'utf8')) as Record<string, unknown>;
  await writeFile(join(realmDir, 'realm.json'), JSON.stringify({ ...realm, accessTokenLifespan: 2 }));
  shortLived = await startOidcProvider({ port: 0, realmFile: join(realmDir, 'realm.json') });
});
afterAll(async () => {
  await shortLived?.close();
  if (realmDir) await rm(realmDir, { recursive: true, force: true });
});

describe('a verifier that remembers verified tokens', () => {
  it('answers a remembered token with the same caller, and refuses it once it expires', async () => {
    const token = await createClientCredentialsTokenSource({ issuer: shortLived.issuer, ...client }).token();
    const verifier = createOidcTokenVerifier({ issuer: shortLived.issuer, audience: 'agora-gateway', clockToleranceSeconds: 0, cacheSize: 10 });
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first);
    const deadline = Date.now() + 5_000;
    let refusal: unknown;
    while (refusal === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      refusal = await verifier.verify(token).then(
        () => undefined,
        (error: unknown) => error,
      );
    }
    expect(refusal).toBeInstanceOf(AuthenticationError);
    expect((refusal as Error).message).toBe('token has expired');
  });

  it('does not remember a refused token: an edited one is refused every time', async () => {
    const token = await createClientCredentialsTokenSource({ issuer: shortLived.issuer, ...client }).token();
    const verifier = createOidcTokenVerifier({ issuer: shortLived.issuer, audience: 'agora-gateway', cacheSize: 10 });
    await verifier.verify(token);
    const [header, payload, signature] = token.split('.');
    const edited = `${header ?? ''}.${payload ?? ''}.${(signature ?? '').slice(0, -4)}AAAA`;
    await expect(verifier.verify(edited)).rejects.toThrow(AuthenticationError);
    await expect(verifier.verify(edited)).rejects.toThrow(AuthenticationError);
  });
});
