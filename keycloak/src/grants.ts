import { randomUUID } from 'node:crypto';
import { errors, type Provider, type TokenEndpointGrantContext } from 'oidc-provider';
import { resourceIndicator, resourceServerFor } from './audience.ts';
import { idTokenClaims } from './claims.ts';
import { authenticate } from './credentials.ts';
import { resolveScope, splitScope } from './scopes.ts';
import type { Realm, RealmClient, RealmUser } from './realm.ts';

export interface GrantSettings {
  readonly realm: Realm;
  readonly kid: string;
}

interface PasswordParams {
  readonly username?: string;
  readonly password?: string;
}

type GrantContext<Params extends object = object> = TokenEndpointGrantContext<Params>;

interface UserSession {
  readonly user: RealmUser;
  readonly grantId: string;
  readonly sid: string;
  readonly scope: string;
}

export const PASSWORD_PARAMS = ['username', 'password', 'scope'] as const;
export const CLIENT_CREDENTIALS_PARAMS = ['scope'] as const;

function invalidGrant(description: string): errors.OIDCProviderError {
  return new errors.CustomOIDCProviderError('invalid_grant', description);
}

function realmClientOf(settings: GrantSettings, ctx: GrantContext): RealmClient {
  const client = settings.realm.client(ctx.oidc.client.clientId);
  if (client === undefined) throw new errors.InvalidClient('client not found');
  return client;
}

function scopeOf(ctx: GrantContext): string {
  const resolution = resolveScope(ctx.oidc.params.scope);
  if (!resolution.ok) throw new errors.InvalidScope(`Invalid scopes: ${resolution.unknown.join(' ')}`, resolution.unknown.join(' '));
  return resolution.scope;
}

function authenticatedUser(settings: GrantSettings, params: PasswordParams): RealmUser {
  if (params.username === undefined || params.username === '') throw new errors.InvalidRequest('Missing parameter: username');
  const result = authenticate(settings.realm, params.username, params.password ?? '');
  if (result.ok) return result.user;
  throw invalidGrant(result.reason === 'disabled' ? 'Account disabled' : 'Invalid user credentials');
}

function resourceServer(settings: GrantSettings, ctx: GrantContext, client: RealmClient) {
  const info = resourceServerFor(client, settings.realm.accessTokenLifespan, settings.kid);
  return new ctx.oidc.provider.ResourceServer(resourceIndicator(client.clientId), info);
}

async function startUserSession(provider: Provider, client: RealmClient, user: RealmUser, scope: string): Promise<UserSession> {
  const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
  grant.addOIDCScope(scope);
  grant.addResourceScope(resourceIndicator(client.clientId), scope);
  return { user, grantId: await grant.save(), sid: randomUUID(), scope };
}

async function issueAccessToken(settings: GrantSettings, ctx: GrantContext, client: RealmClient, session: UserSession) {
  const token = new ctx.oidc.provider.AccessToken({
    accountId: session.user.id,
    client: ctx.oidc.client,
    grantId: session.grantId,
    gty: 'password',
    scope: session.scope,
    sid: session.sid,
    // Direct grants have no browser session cookie to bind the token to.
    expiresWithSession: false,
  });
  token.resourceServer = resourceServer(settings, ctx, client);
  ctx.oidc.entity('AccessToken', token);
  return { value: await token.save(), expiresIn: token.expiration, tokenType: token.tokenType };
}

async function issueRefreshToken(ctx: GrantContext, client: RealmClient, session: UserSession): Promise<string> {
  const token = new ctx.oidc.provider.RefreshToken({
    accountId: session.user.id,
    client: ctx.oidc.client,
    grantId: session.grantId,
    gty: 'password',
    scope: session.scope,
    sid: session.sid,
    resource: resourceIndicator(client.clientId),
    authTime: Math.floor(Date.now() / 1000),
    expiresWithSession: false,
    rotations: 0,
  });
  ctx.oidc.entity('RefreshToken', token);
  return token.save();
}

async function issueIdToken(ctx: GrantContext, session: UserSession): Promise<string | undefined> {
  if (!splitScope(session.scope).includes('openid')) return undefined;
  const token = new ctx.oidc.provider.IdToken(idTokenClaims(session.user, session.scope), { ctx });
  // IdToken#scope picks the claims to include; the typings leave it out.
  Object.assign(token, { scope: session.scope });
  token.set('sid', session.sid);
  return token.issue({ use: 'idtoken' });
}

/** Resource owner password credentials, allowed only for clients with "Direct access grants" enabled. */
export function passwordGrantHandler(settings: GrantSettings) {
  return async (ctx: GrantContext<PasswordParams>): Promise<void> => {
    const client = realmClientOf(settings, ctx);
    if (!client.directAccessGrantsEnabled) throw new errors.UnauthorizedClient('Client not allowed for direct access grants');
    const user = authenticatedUser(settings, ctx.oidc.params);
    const session = await startUserSession(ctx.oidc.provider, client, user, scopeOf(ctx));
    const accessToken = await issueAccessToken(settings, ctx, client, session);
    const refreshToken = ctx.oidc.client.grantTypeAllowed('refresh_token')
      ? await issueRefreshToken(ctx, client, session)
      : undefined;
    ctx.body = {
      access_token: accessToken.value,
      expires_in: accessToken.expiresIn,
      refresh_token: refreshToken,
      token_type: accessToken.tokenType,
      id_token: await issueIdToken(ctx, session),
      scope: session.scope,
    };
  };
}

/** Client credentials, allowed only for confidential clients with "Service accounts" enabled. */
export function clientCredentialsGrantHandler(settings: GrantSettings) {
  return async (ctx: GrantContext): Promise<void> => {
    const client = realmClientOf(settings, ctx);
    if (!client.serviceAccountsEnabled || client.publicClient) {
      throw new errors.UnauthorizedClient('Client not enabled to retrieve service account');
    }
    if (settings.realm.serviceAccount(client.clientId) === undefined) {
      throw new errors.UnauthorizedClient('Client has no service account user');
    }
    const token = new ctx.oidc.provider.ClientCredentials({ client: ctx.oidc.client, scope: scopeOf(ctx) });
    token.resourceServer = resourceServer(settings, ctx, client);
    ctx.oidc.entity('ClientCredentials', token);
    ctx.body = {
      access_token: await token.save(),
      expires_in: token.expiration,
      token_type: token.tokenType,
      scope: token.scope,
    };
  };
}
