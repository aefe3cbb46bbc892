import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthError, passwordGrant, startOidcProvider, type RunningOidcProvider } from '../src/index.ts';
import { ADMIN_ID, aString, ALICE_ID, passwordTokens, SERVICE_ACCOUNT_ID, stringMember, tokenRequest } from './oidc-client.ts';

let oidc: RunningOidcProvider;
let verifyAccessToken: (token: string) => Promise<JWTPayload>;

beforeAll(async () => {
  oidc = await startOidcProvider({ port: 0 });
  const keys = createRemoteJWKSet(new URL(`${oidc.issuer}/protocol/openid-connect/certs`));
  verifyAccessToken = async (token) => (await jwtVerify(token, keys, { issuer: oidc.issuer, audience: 'agora-gateway' })).payload;
});

afterAll(async () => {
  await oidc.close();
});

describe('discovery', () => {
  it('publishes the OpenID configuration at Keycloak’s realm paths', async () => {
    const response = await fetch(`${oidc.issuer}/.well-known/openid-configuration`);
    const discovery = (await response.json()) as Record<string, unknown>;

    expect(response.status).toBe(200);
    expect(oidc.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/realms\/agora$/);
    expect(discovery).toMatchObject({
      issuer: oidc.issuer,
      authorization_endpoint: `${oidc.issuer}/protocol/openid-connect/auth`,
      token_endpoint: `${oidc.issuer}/protocol/openid-connect/token`,
      jwks_uri: `${oidc.issuer}/protocol/openid-connect/certs`,
      userinfo_endpoint: `${oidc.issuer}/protocol/openid-connect/userinfo`,
      end_session_endpoint: `${oidc.issuer}/protocol/openid-connect/logout`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(discovery['grant_types_supported']).toEqual(expect.arrayContaining(['authorization_code', 'password', 'client_credentials', 'refresh_token']));
  });

  it('answers paths outside the realm with 404', async () => {
    const response = await fetch(`${oidc.url}/realms/other/.well-known/openid-configuration`);

    expect(response.status).toBe(404);
  });
});

describe('password grant', () => {
  it('gives alice a Keycloak-shaped access token that verifies against the published keys', async () => {
    const { accessToken, expiresIn } = await passwordGrant({ issuer: oidc.issuer, clientId: 'agora-cli', username: 'alice', password: 'alice-dev-password' });
    const claims = await verifyAccessToken(accessToken);

    expect(decodeProtectedHeader(accessToken)).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: aString });
    expect(claims).toMatchObject({
      sub: ALICE_ID,
      aud: 'agora-gateway',
      azp: 'agora-cli',
      typ: 'Bearer',
      realm_access: { roles: ['customer'] },
      preferred_username: 'alice',
      email: 'alice@agora.test',
      email_verified: true,
      name: 'Alice Martin',
      given_name: 'Alice',
      family_name: 'Martin',
      sid: aString,
      jti: aString,
    });
    expect(claims['client_id']).toBeUndefined();
    expect(claims.exp! - claims.iat!).toBe(300);
    expect(expiresIn).toBe(300);
  });

  it('gives admin the admin realm role', async () => {
    const { accessToken } = await passwordGrant({ issuer: oidc.issuer, clientId: 'agora-cli', username: 'admin', password: 'admin-dev-password' });
    const claims = await verifyAccessToken(accessToken);

    expect(claims.sub).toBe(ADMIN_ID);
    expect(claims['realm_access']).toEqual({ roles: ['admin', 'customer'] });
  });

  it('answers like Keycloak: token, refresh token, lifetimes, default scopes', async () => {
    const response = await passwordTokens(oidc.issuer, 'bob', 'bob-dev-password');

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 300,
      refresh_expires_in: 1800,
      refresh_token: aString,
      scope: 'profile email',
      session_state: decodeJwt(stringMember(response, 'access_token'))['sid'],
    });
    expect(response.body['id_token']).toBeUndefined();
  });

  it('adds an ID token when the openid scope is requested', async () => {
    const response = await passwordTokens(oidc.issuer, 'alice', 'alice-dev-password', 'openid');
    const idToken = decodeJwt(stringMember(response, 'id_token'));

    expect(response.body['scope']).toBe('openid profile email');
    expect(idToken).toMatchObject({ iss: oidc.issuer, aud: 'agora-cli', sub: ALICE_ID, preferred_username: 'alice', typ: 'ID' });
  });

  it('refuses a wrong password with 400 invalid_grant', async () => {
    const response = await passwordTokens(oidc.issuer, 'alice', 'not-the-password');

    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid user credentials' });
  });

  it('refuses an unknown user exactly like a wrong password', async () => {
    const response = await passwordTokens(oidc.issuer, 'mallory', 'alice-dev-password');

    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid user credentials' });
  });

  it('makes the passwordGrant helper throw the OAuth error', async () => {
    const attempt = passwordGrant({ issuer: oidc.issuer, clientId: 'agora-cli', username: 'alice', password: 'wrong' });

    await expect(attempt).rejects.toBeInstanceOf(OAuthError);
    await expect(attempt).rejects.toMatchObject({ status: 400, error: 'invalid_grant', message: 'invalid_grant: Invalid user credentials' });
  });

  it('refuses clients without direct access grants, such as agora-web', async () => {
    const response = await tokenRequest(oidc.issuer, { grant_type: 'password', client_id: 'agora-web', username: 'alice', password: 'alice-dev-password' });

    expect(response.status).toBe(400);
    expect(response.body['error']).toBe('unauthorized_client');
  });

  it('refuses scopes the realm does not define', async () => {
    const response = await passwordTokens(oidc.issuer, 'alice', 'alice-dev-password', 'openid payments:admin');

    expect(response.status).toBe(400);
    expect(response.body['error']).toBe('invalid_scope');
  });
});

describe('client credentials grant', () => {
  it('gives agora-service a token for its service-account user', async () => {
    const response = await tokenRequest(oidc.issuer, { grant_type: 'client_credentials' }, ['agora-service', 'agora-service-dev-secret']);
    const claims = await verifyAccessToken(stringMember(response, 'access_token'));

    expect(response.status).toBe(200);
    expect(response.body['refresh_token']).toBeUndefined();
    expect(claims).toMatchObject({
      sub: SERVICE_ACCOUNT_ID,
      azp: 'agora-service',
      client_id: 'agora-service',
      typ: 'Bearer',
      preferred_username: 'service-account-agora-service',
      realm_access: { roles: ['admin'] },
    });
  });

  it('gives the gateway a token for a service account with no realm roles, which subgraphs treat as anonymous', async () => {
    const response = await tokenRequest(oidc.issuer, { grant_type: 'client_credentials' }, ['agora-gateway-anonymous', 'agora-gateway-anonymous-dev-secret']);
    const claims = await verifyAccessToken(stringMember(response, 'access_token'));

    expect(response.status).toBe(200);
    expect(claims).toMatchObject({ azp: 'agora-gateway-anonymous', typ: 'Bearer', aud: 'agora-gateway', realm_access: { roles: [] } });
  });

  it('accepts the client secret in the request body too', async () => {
    const response = await tokenRequest(oidc.issuer, { grant_type: 'client_credentials', client_id: 'agora-service', client_secret: 'agora-service-dev-secret' });

    expect(response.status).toBe(200);
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const response = await tokenRequest(oidc.issuer, { grant_type: 'client_credentials' }, ['agora-service', 'wrong-secret']);

    expect(response.status).toBe(401);
    expect(response.body['error']).toBe('invalid_client');
    expect(response.body['access_token']).toBeUndefined();
  });

  it('refuses clients without a service account, such as agora-cli', async () => {
    const response = await tokenRequest(oidc.issuer, { grant_type: 'client_credentials', client_id: 'agora-cli' });

    expect(response.status).toBe(400);
    expect(response.body['error']).toBe('unauthorized_client');
  });
});

describe('refresh token grant', () => {
  it('exchanges a refresh token for a new access token and a new refresh token', async () => {
    const first = await passwordTokens(oidc.issuer, 'alice', 'alice-dev-password');
    const refreshed = await tokenRequest(oidc.issuer, { grant_type: 'refresh_token', client_id: 'agora-cli', refresh_token: stringMember(first, 'refresh_token') });
    const before = await verifyAccessToken(stringMember(first, 'access_token'));
    const after = await verifyAccessToken(stringMember(refreshed, 'access_token'));

    expect(refreshed.status).toBe(200);
    expect(after.jti).not.toBe(before.jti);
    expect(after).toMatchObject({ sub: ALICE_ID, sid: before['sid'], realm_access: { roles: ['customer'] } });
    expect(stringMember(refreshed, 'refresh_token')).not.toBe(stringMember(first, 'refresh_token'));
  });

  it('refuses a refresh token presented by another client', async () => {
    const first = await passwordTokens(oidc.issuer, 'alice', 'alice-dev-password');
    const stolen = await tokenRequest(oidc.issuer, { grant_type: 'refresh_token', client_id: 'agora-web', refresh_token: stringMember(first, 'refresh_token') });

    expect(stolen.status).toBe(400);
    expect(stolen.body['error']).toBe('invalid_grant');
  });
});
