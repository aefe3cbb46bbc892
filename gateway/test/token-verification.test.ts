import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledRealmFile, startOidcProvider, type RunningOidcProvider } from '@agora/keycloak';
import type { RunningGateway } from '../src/server.ts';
import { eventually, freshToken, graphql, startTestGateway, type GraphQLResponse } from './support.ts';

// Every check of @agora/auth, seen from outside: real tokens from the local provider, sent over HTTP.
const TYPENAME = '{ __typename }';
const accepted = (response: GraphQLResponse) => response.status === 200 && response.data?.['__typename'] === 'Query';

function expectRefused(response: GraphQLResponse, reason: RegExp): void {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(response.errors?.[0]?.message).toMatch(reason);
  expect(response.errors?.[0]?.message).not.toMatch(/^Context creation failed/);
}

let oidc: RunningOidcProvider;
let gateway: RunningGateway;
beforeAll(async () => {
  oidc = await startOidcProvider({ port: 0 });
  gateway = await startTestGateway(oidc.issuer);
});
afterAll(async () => {
  await gateway?.stop();
  await oidc?.close();
});

describe('a gateway verifying bearer tokens', () => {
  it('accepts a current access token from its issuer', async () => {
    expect(accepted(await graphql(gateway.url, TYPENAME, { token: await freshToken(oidc.issuer, 'alice') }))).toBe(true);
  });

  it('refuses a malformed Authorization header and a token that is not a JWT with 401', async () => {
    const basic = await graphql(gateway.url, TYPENAME, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    expect(basic.status).toBe(401);
    expect(basic.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expectRefused(await graphql(gateway.url, TYPENAME, { token: 'not-a-jwt' }), /not valid/);
  });

  it('refuses an HS256 token signed with the issuer’s public key as the secret (algorithm confusion)', async () => {
    const genuine = await freshToken(oidc.issuer, 'admin');
    const { keys } = (await (await fetch(`${oidc.issuer}/protocol/openid-connect/certs`)).json()) as { keys: JsonWebKey[] };
    const publicPem = createPublicKey({ key: keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const forged = await new SignJWT(decodeJwt(genuine))
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: decodeProtectedHeader(genuine).kid! })
      .sign(new TextEncoder().encode(publicPem.toString()));
    expectRefused(await graphql(gateway.url, TYPENAME, { token: forged }), /algorithm that is not allowed/);
  });
});

describe('a gateway whose audience is agora-cli', () => {
  let cliAudience: RunningGateway;
  beforeAll(async () => {
    cliAudience = await startTestGateway(oidc.issuer, { OIDC_AUDIENCE: 'agora-cli' });
  });
  afterAll(() => cliAudience?.stop());

  it('refuses an access token issued for another audience (agora-gateway)', async () => {
    expectRefused(await graphql(cliAudience.url, TYPENAME, { token: await freshToken(oidc.issuer, 'alice') }), /claim aud/);
  });

  it('refuses an ID token (typ ID) even where its audience matches', async () => {
    const body = new URLSearchParams({ grant_type: 'password', client_id: 'agora-cli', username: 'alice', password: 'alice-dev-password', scope: 'openid' });
    const { id_token: idToken } = (await (await fetch(`${oidc.issuer}/protocol/openid-connect/token`, { method: 'POST', body })).json()) as { id_token: string };
    expect(decodeJwt(idToken)).toMatchObject({ typ: 'ID', aud: 'agora-cli' });
    expectRefused(await graphql(cliAudience.url, TYPENAME, { token: idToken }), /not an access token/);
  });
});

describe('a gateway trusting another issuer that publishes the same keys', () => {
  // As with a multi-tenant provider: the signature verifies, so only the exact `iss` check stands in the way.
  let alias: Server;
  let aliasGateway: RunningGateway;
  beforeAll(async () => {
    alias = createServer((_request, response) => {
      const address = alias.address() as { port: number };
      const issuer = `http://127.0.0.1:${address.port}/realms/agora`;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ issuer, jwks_uri: `${oidc.issuer}/protocol/openid-connect/certs` }));
    });
    await new Promise<void>((resolve) => alias.listen(0, '127.0.0.1', resolve));
    aliasGateway = await startTestGateway(`http://127.0.0.1:${(alias.address() as { port: number }).port}/realms/agora`);
  });
  afterAll(async () => {
    await aliasGateway?.stop();
    await new Promise((resolve) => alias?.close(resolve));
  });

  it('refuses a token whose iss is not exactly its issuer', async () => {
    const token = await freshToken(oidc.issuer, 'alice');
    expect(accepted(await graphql(gateway.url, TYPENAME, { token }))).toBe(true);
    expectRefused(await graphql(aliasGateway.url, TYPENAME, { token }), /claim iss/);
  });
});

describe('a gateway without clock tolerance, behind an issuer whose tokens live 3 s', () => {
  let realmDir: string;
  let shortLived: RunningOidcProvider;
  let strictGateway: RunningGateway;
  beforeAll(async () => {
    realmDir = await mkdtemp(join(tmpdir(), 'agora-realm-'));
    const realm = JSON.parse(await readFile(bundledRealmFile, 'utf8')) as Record<string, unknown>;
    const realmFile = join(realmDir, 'realm.json');
    await writeFile(realmFile, JSON.stringify({ ...realm, accessTokenLifespan: 3 }));
    shortLived = await startOidcProvider({ port: 0, realmFile });
    strictGateway = await startTestGateway(shortLived.issuer, { OIDC_CLOCK_TOLERANCE_SECONDS: '0' });
  });
  afterAll(async () => {
    await strictGateway?.stop();
    await shortLived?.close();
    if (realmDir) await rm(realmDir, { recursive: true, force: true });
  });

  it('accepts a token until it expires, then refuses it with 401', async () => {
    const token = await freshToken(shortLived.issuer, 'bob');
    expect(accepted(await graphql(strictGateway.url, TYPENAME, { token }))).toBe(true);
    const later = await eventually(() => graphql(strictGateway.url, TYPENAME, { token }), (response) => response.status !== 200);
    expectRefused(later, /expired/);
  });
});

describe('gateways after the issuer rotates its signing key', () => {
  let rotating: RunningOidcProvider;
  let eager: RunningGateway;
  let cautious: RunningGateway;
  beforeAll(async () => {
    rotating = await startOidcProvider({ port: 0 });
    eager = await startTestGateway(rotating.issuer, { OIDC_JWKS_COOLDOWN_MS: '0' });
    cautious = await startTestGateway(rotating.issuer);
    // Both download the JWKS now, with the old key only.
    const before = await freshToken(rotating.issuer, 'alice');
    for (const instance of [eager, cautious]) expect(accepted(await graphql(instance.url, TYPENAME, { token: before }))).toBe(true);
    await rotating.rotateKeys();
  });
  afterAll(async () => {
    await eager?.stop();
    await cautious?.stop();
    await rotating?.close();
  });

  it('accepts a token signed with the new key by downloading the JWKS again', async () => {
    expect(accepted(await graphql(eager.url, TYPENAME, { token: await freshToken(rotating.issuer, 'alice') }))).toBe(true);
  });

  it('does not download the JWKS again within the cooldown, so unknown keys cannot force downloads', async () => {
    expectRefused(await graphql(cautious.url, TYPENAME, { token: await freshToken(rotating.issuer, 'alice') }), /unknown key/);
  });
});
