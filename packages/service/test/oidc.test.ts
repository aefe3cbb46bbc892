import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { passwordGrant, startOidcProvider, type RunningOidcProvider } from '@agora/keycloak';
import { oidcEnvFields, parseEnv, tokenVerifierFromEnv } from '../src/index.ts';

// The verifier every service builds from its environment (the gateway and each subgraph): it
// checks a token's signature once a minute at most, unless OIDC_TOKEN_CACHE_SIZE=0.

let issuer: RunningOidcProvider;
let token: string;
beforeAll(async () => {
  issuer = await startOidcProvider({ port: 0 });
  token = (await passwordGrant({ issuer: issuer.issuer, clientId: 'agora-cli', username: 'alice', password: 'alice-dev-password' })).accessToken;
});
afterAll(async () => {
  await issuer?.close();
});

const verifierWith = (variables: Record<string, string>) => tokenVerifierFromEnv(parseEnv(z.object(oidcEnvFields), { OIDC_ISSUER_URL: issuer.issuer, ...variables }));

describe('tokenVerifierFromEnv', () => {
  it('remembers a verified token by default: the second use answers the same caller without verifying again', async () => {
    const verifier = verifierWith({});
    const first = await verifier.verify(token);
    expect(first.username).toBe('alice');
    expect(await verifier.verify(token)).toBe(first);
  });

  it('verifies every use with OIDC_TOKEN_CACHE_SIZE=0', async () => {
    const verifier = verifierWith({ OIDC_TOKEN_CACHE_SIZE: '0' });
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
  });
});
