import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordGrant, startOidcProvider, type RunningOidcProvider } from '../src/index.ts';
import { aString } from './oidc-client.ts';

let oidc: RunningOidcProvider;

beforeAll(async () => {
  oidc = await startOidcProvider({ port: 0 });
});

afterAll(async () => {
  await oidc.close();
});

async function publishedKeys(): Promise<JSONWebKeySet> {
  const response = await fetch(`${oidc.issuer}/protocol/openid-connect/certs`);
  return (await response.json()) as JSONWebKeySet;
}

async function aliceToken(): Promise<string> {
  return (await passwordGrant({ issuer: oidc.issuer, clientId: 'agora-cli', username: 'alice', password: 'alice-dev-password' })).accessToken;
}

async function verifies(token: string, keys: JSONWebKeySet): Promise<boolean> {
  try {
    await jwtVerify(token, createLocalJWKSet(keys), { issuer: oidc.issuer, audience: 'agora-gateway' });
    return true;
  } catch {
    return false;
  }
}

describe('signing key rotation', () => {
  it('publishes only public RS256 signing keys', async () => {
    const { keys } = await publishedKeys();

    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: aString });
      expect(key['d']).toBeUndefined();
    }
  });

  it('signs new tokens with a new key while tokens signed before stay verifiable', async () => {
    const before = await aliceToken();
    await oidc.rotateKeys();
    const after = await aliceToken();
    const keys = await publishedKeys();

    expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);
    expect(keys.keys.map((key) => key.kid)).toEqual([decodeProtectedHeader(after).kid, decodeProtectedHeader(before).kid]);
    expect(await verifies(before, keys)).toBe(true);
    expect(await verifies(after, keys)).toBe(true);
  });

  it('drops a key after two rotations, so only the previous key stays published', async () => {
    const old = await aliceToken();
    await oidc.rotateKeys();
    await oidc.rotateKeys();
    const keys = await publishedKeys();

    expect(keys.keys).toHaveLength(2);
    expect(await verifies(old, keys)).toBe(false);
  });

  it('keeps serving logins and refresh tokens across a rotation', async () => {
    const tokens = await passwordGrant({ issuer: oidc.issuer, clientId: 'agora-cli', username: 'bob', password: 'bob-dev-password' });
    await oidc.rotateKeys();
    const response = await fetch(`${oidc.issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'agora-cli', refresh_token: tokens.refreshToken ?? '' }),
    });
    const refreshed = (await response.json()) as { access_token?: string };

    expect(response.status).toBe(200);
    expect(decodeProtectedHeader(refreshed.access_token ?? '').kid).toBe((await publishedKeys()).keys[0]?.kid);
  });
});
