import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider, type RunningOidcProvider } from '../src/index.ts';
import {
  aString,
  ALICE_ID,
  authorizationUrl,
  Browser,
  formAction,
  passwordTokens,
  pkcePair,
  stringMember,
  tokenRequest,
  WEB_REDIRECT_URI,
  type TokenResponse,
} from './oidc-client.ts';

let oidc: RunningOidcProvider;

beforeAll(async () => {
  oidc = await startOidcProvider({ port: 0 });
});

afterAll(async () => {
  await oidc.close();
});

interface LoginAttempt {
  readonly browser: Browser;
  readonly verifier: string;
  readonly loginPage: string;
  readonly action: string;
}

async function openLoginPage(extra: Record<string, string> = {}): Promise<LoginAttempt> {
  const browser = new Browser(oidc.url);
  const { verifier, challenge } = pkcePair();
  const params = { client_id: 'agora-web', redirect_uri: WEB_REDIRECT_URI, response_type: 'code', scope: 'openid', state: 'state-1', code_challenge: challenge, code_challenge_method: 'S256', ...extra };
  const page = await browser.follow(await browser.get(authorizationUrl(oidc.issuer, params)));
  const loginPage = await page.text();
  return { browser, verifier, loginPage, action: formAction(loginPage) };
}

async function signIn(attempt: LoginAttempt, username: string, password: string): Promise<Response> {
  return attempt.browser.follow(await attempt.browser.postForm(attempt.action, { username, password }));
}

async function exchangeCode(callback: Response, verifier: string): Promise<TokenResponse> {
  const code = new URL(callback.headers.get('location') ?? '').searchParams.get('code') ?? '';
  return tokenRequest(oidc.issuer, { grant_type: 'authorization_code', client_id: 'agora-web', code, code_verifier: verifier, redirect_uri: WEB_REDIRECT_URI });
}

async function loggedInAlice(): Promise<{ attempt: LoginAttempt; tokens: TokenResponse }> {
  const attempt = await openLoginPage();
  const callback = await signIn(attempt, 'alice', 'alice-dev-password');
  return { attempt, tokens: await exchangeCode(callback, attempt.verifier) };
}

describe('authorization code flow with PKCE', () => {
  it('logs alice in through the login form and exchanges the code for her tokens', async () => {
    const attempt = await openLoginPage();
    const callback = await signIn(attempt, 'alice', 'alice-dev-password');
    const redirect = new URL(callback.headers.get('location') ?? '');
    const tokens = await exchangeCode(callback, attempt.verifier);
    const keys = createRemoteJWKSet(new URL(`${oidc.issuer}/protocol/openid-connect/certs`));
    const { payload } = await jwtVerify(stringMember(tokens, 'access_token'), keys, { issuer: oidc.issuer, audience: 'agora-gateway' });

    expect(callback.status).toBe(303);
    expect(`${redirect.origin}${redirect.pathname}`).toBe(WEB_REDIRECT_URI);
    expect(redirect.searchParams.get('state')).toBe('state-1');
    expect(tokens.status).toBe(200);
    expect(tokens.body).toMatchObject({ token_type: 'Bearer', scope: 'openid profile email', refresh_token: aString, id_token: aString });
    expect(payload).toMatchObject({ sub: ALICE_ID, azp: 'agora-web', typ: 'Bearer', preferred_username: 'alice', realm_access: { roles: ['customer'] }, sid: aString });
    expect(decodeJwt(stringMember(tokens, 'id_token'))).toMatchObject({ sub: ALICE_ID, aud: 'agora-web', email: 'alice@agora.test', typ: 'ID' });
  });

  it('skips the login form when the browser already has a session', async () => {
    const { attempt } = await loggedInAlice();
    const { challenge } = pkcePair();
    const again = authorizationUrl(oidc.issuer, { client_id: 'agora-web', redirect_uri: WEB_REDIRECT_URI, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' });
    const redirect = new URL((await attempt.browser.follow(await attempt.browser.get(again))).headers.get('location') ?? '');

    expect(`${redirect.origin}${redirect.pathname}`).toBe(WEB_REDIRECT_URI);
    expect(redirect.searchParams.get('code')).toEqual(aString);
  });

  it('lets only the client’s web origins call the token endpoint from a browser', async () => {
    const fromOrigin = (origin: string) =>
      fetch(`${oidc.issuer}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { origin },
        body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'agora-web', refresh_token: 'unknown' }),
      });

    expect((await fromOrigin('http://localhost:5173')).headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect((await fromOrigin('http://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('shows the login form again with an error when the password is wrong', async () => {
    const attempt = await openLoginPage();
    const response = await signIn(attempt, 'alice', 'not-the-password');
    const html = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
    expect(html).toContain('Invalid username or password.');
    expect(html).toContain('value="alice"');
  });

  it('escapes what the user typed when it shows the form again', async () => {
    const attempt = await openLoginPage();
    const html = await (await signIn(attempt, '"><script>alert(1)</script>', 'x')).text();

    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('refuses to exchange the code without the matching code verifier', async () => {
    const attempt = await openLoginPage();
    const callback = await signIn(attempt, 'alice', 'alice-dev-password');
    const tokens = await exchangeCode(callback, pkcePair().verifier);

    expect(tokens.status).toBe(400);
    expect(tokens.body['error']).toBe('invalid_grant');
  });

  it('refuses an authorization request without a PKCE challenge', async () => {
    const browser = new Browser(oidc.url);
    const url = authorizationUrl(oidc.issuer, { client_id: 'agora-web', redirect_uri: WEB_REDIRECT_URI, response_type: 'code', scope: 'openid' });
    const redirect = new URL((await browser.get(url)).headers.get('location') ?? '', oidc.url);

    expect(`${redirect.origin}${redirect.pathname}`).toBe(WEB_REDIRECT_URI);
    expect(redirect.searchParams.get('error')).toBe('invalid_request');
  });

  it('refuses the plain PKCE method', async () => {
    const browser = new Browser(oidc.url);
    const url = authorizationUrl(oidc.issuer, { client_id: 'agora-web', redirect_uri: WEB_REDIRECT_URI, response_type: 'code', scope: 'openid', code_challenge: pkcePair().verifier, code_challenge_method: 'plain' });
    const redirect = new URL((await browser.get(url)).headers.get('location') ?? '', oidc.url);

    expect(redirect.searchParams.get('error')).toBe('invalid_request');
  });

  it('refuses redirect URIs outside the client’s registered patterns without redirecting', async () => {
    const browser = new Browser(oidc.url);
    const url = authorizationUrl(oidc.issuer, { client_id: 'agora-web', redirect_uri: 'http://evil.example/callback', response_type: 'code', scope: 'openid', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
    const response = await browser.get(url);

    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });

  it('refuses browser logins for clients without the standard flow, such as agora-cli', async () => {
    const browser = new Browser(oidc.url);
    const url = authorizationUrl(oidc.issuer, { client_id: 'agora-cli', redirect_uri: WEB_REDIRECT_URI, response_type: 'code', scope: 'openid', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
    const response = await browser.get(url);

    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('We are sorry...');
  });
});

describe('userinfo', () => {
  it('returns the claims of the user the access token was issued to', async () => {
    const { tokens } = await loggedInAlice();
    const response = await fetch(`${oidc.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${stringMember(tokens, 'access_token')}` } });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      sub: ALICE_ID,
      preferred_username: 'alice',
      name: 'Alice Martin',
      given_name: 'Alice',
      family_name: 'Martin',
      email: 'alice@agora.test',
      email_verified: true,
    });
  });

  it('accepts password-grant tokens that asked for openid', async () => {
    const tokens = await passwordTokens(oidc.issuer, 'bob', 'bob-dev-password', 'openid');
    const response = await fetch(`${oidc.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${stringMember(tokens, 'access_token')}` } });

    expect(await response.json()).toMatchObject({ preferred_username: 'bob', email: 'bob@agora.test' });
  });

  it('refuses a request without a token with 401', async () => {
    const response = await fetch(`${oidc.issuer}/protocol/openid-connect/userinfo`);

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="agora"/);
  });

  it('refuses a tampered token with 401', async () => {
    const tokens = await passwordTokens(oidc.issuer, 'alice', 'alice-dev-password', 'openid');
    const [header, , signature] = stringMember(tokens, 'access_token').split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ sub: 'someone-else', scope: 'openid', typ: 'Bearer', iss: oidc.issuer })).toString('base64url');
    const response = await fetch(`${oidc.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${header}.${forgedPayload}.${signature}` } });

    expect(response.status).toBe(401);
  });

  it('refuses a token without the openid scope with 403', async () => {
    const tokens = await passwordTokens(oidc.issuer, 'alice', 'alice-dev-password');
    const response = await fetch(`${oidc.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${stringMember(tokens, 'access_token')}` } });

    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'insufficient_scope' });
  });
});

describe('logout', () => {
  it('ends the session so that its refresh token stops working, then returns to the application', async () => {
    const { attempt, tokens } = await loggedInAlice();
    const logoutUrl = new URL(`${oidc.issuer}/protocol/openid-connect/logout`);
    logoutUrl.search = new URLSearchParams({ id_token_hint: stringMember(tokens, 'id_token'), post_logout_redirect_uri: 'http://localhost:4000/signed-out' }).toString();
    const confirmPage = await (await attempt.browser.get(logoutUrl.href)).text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirmPage)?.[1] ?? '';
    const done = await attempt.browser.postForm(`${oidc.issuer}/protocol/openid-connect/logout/confirm`, { xsrf, logout: 'yes' });
    const refresh = await tokenRequest(oidc.issuer, { grant_type: 'refresh_token', client_id: 'agora-web', refresh_token: stringMember(tokens, 'refresh_token') });

    expect(confirmPage).toContain('Do you want to log out?');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('http://localhost:4000/signed-out');
    expect(refresh.status).toBe(400);
    expect(refresh.body['error']).toBe('invalid_grant');
  });
});
