import { errors, type Account, type ClientMetadata, type Configuration, type Grant, type KoaContextWithOIDC } from 'oidc-provider';
import { resourceIndicator, resourceServerFor } from './audience.ts';
import { idTokenClaims, originAllowed, userClaims } from './claims.ts';
import { extraTokenClaims, keycloakAccessToken, realmClientFor } from './keycloak-tokens.ts';
import { renderLogoutConfirmPage, renderMessagePage } from './html.ts';
import { ringKeys, type KeyRing } from './signing-keys.ts';
import { KEYCLOAK_ROUTES, LOGIN_ACTIONS_ROUTE } from './routes.ts';
import { SUPPORTED_SCOPES } from './scopes.ts';
import type { MemoryStore } from './memory-store.ts';
import type { Realm, RealmClient } from './realm.ts';

export interface ProviderSettings {
  readonly realm: Realm;
  readonly issuer: string;
  readonly keys: KeyRing;
  readonly store: MemoryStore;
  readonly cookieKeys: readonly string[];
}

// Keycloak's defaults for the login flow: action codes live 60 s, a login form 30 min.
const AUTHORIZATION_CODE_TTL = 60;
const LOGIN_TTL = 1800;

const supportedScopes = new Set<string>(SUPPORTED_SCOPES);

function clientMetadata(client: RealmClient): ClientMetadata {
  const browser = client.standardFlowEnabled;
  const refreshable = browser || client.directAccessGrantsEnabled;
  const authentication = client.publicClient
    ? { token_endpoint_auth_method: 'none' as const }
    : { token_endpoint_auth_method: 'client_secret_basic' as const, client_secret: client.secret };
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...authentication,
    // Both direct grants are always registered so that the realm flags reject misuse with Keycloak's unauthorized_client.
    grant_types: [...(browser ? ['authorization_code'] : []), ...(refreshable ? ['refresh_token'] : []), 'password', 'client_credentials'],
    response_types: browser ? ['code'] : [],
    redirect_uris: browser ? client.redirectUris : [],
  };
}

function findAccount(realm: Realm) {
  return (_ctx: KoaContextWithOIDC, sub: string): Account | undefined => {
    const user = realm.user(sub);
    if (user === undefined || !user.enabled) return undefined;
    const scope = SUPPORTED_SCOPES.join(' ');
    return { accountId: user.id, claims: (use) => (use === 'id_token' ? idTokenClaims(user, scope) : userClaims(user, scope)) };
  };
}

/** Keycloak clients default to "consent not required": grant whatever supported scopes were asked for. */
async function autoConsent(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const { client, session, provider } = ctx.oidc;
  const accountId = session?.accountId;
  if (client === undefined || session === undefined || accountId === undefined) return undefined;
  const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
  const existing = grantId === undefined ? undefined : await provider.Grant.find(grantId);
  const grant = existing?.accountId === accountId ? existing : new provider.Grant({ accountId, clientId: client.clientId });
  const scopes = [...ctx.oidc.requestParamScopes].filter((scope) => supportedScopes.has(scope));
  grant.addOIDCScope(scopes);
  for (const indicator of Object.keys(ctx.oidc.resourceServers ?? {})) grant.addResourceScope(indicator, scopes);
  await grant.save();
  return grant;
}

function refreshTokenTtl(realm: Realm) {
  return (_ctx: KoaContextWithOIDC, token: { iiat?: number | undefined }): number => {
    const now = Math.floor(Date.now() / 1000);
    const sessionAge = now - (token.iiat ?? now);
    return Math.max(1, Math.min(realm.ssoSessionIdleTimeout, realm.ssoSessionMaxLifespan - sessionAge));
  };
}

function pkceRequired(realm: Realm) {
  return (_ctx: KoaContextWithOIDC, client: { clientId: string; clientAuthMethod?: string | undefined }): boolean => {
    const method = realm.client(client.clientId)?.attributes['pkce.code.challenge.method'];
    return method !== undefined || client.clientAuthMethod === 'none';
  };
}

function resourceIndicators(settings: ProviderSettings) {
  const { realm } = settings;
  return {
    enabled: true,
    defaultResource: (_ctx: KoaContextWithOIDC, client: { clientId: string }) => resourceIndicator(client.clientId),
    // The realm decides the audience, so the granted (default) resource is always the one used.
    useGrantedResource: () => true,
    getResourceServerInfo: (_ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }) => {
      if (indicator !== resourceIndicator(client.clientId)) throw new errors.InvalidTarget('resource indicators are not supported');
      return resourceServerFor(realmClientFor(realm, client.clientId), realm.accessTokenLifespan, settings.keys.current.kid);
    },
  };
}

function htmlPages() {
  return {
    renderError: (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string | undefined }) => {
      ctx.type = 'html';
      ctx.body = renderMessagePage('We are sorry...', out.error_description ?? out.error);
    },
    logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
      ctx.type = 'html';
      ctx.body = renderLogoutConfirmPage(form);
    },
    postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => {
      ctx.type = 'html';
      ctx.body = renderMessagePage('You are logged out', 'Your session has ended.');
    },
  };
}

export function providerConfiguration(settings: ProviderSettings): Configuration {
  const { realm, issuer } = settings;
  const basePath = new URL(issuer).pathname;
  const pages = htmlPages();
  return {
    adapter: settings.store.adapterFactory(),
    clients: realm.clients.filter((client) => client.enabled && !client.bearerOnly).map(clientMetadata),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientBasedCORS: (_ctx, origin, client) => originAllowed(realmClientFor(realm, client.clientId), origin),
    claims: {
      openid: ['sub', 'preferred_username', 'typ'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: [...SUPPORTED_SCOPES],
    responseTypes: ['code'],
    conformIdTokenClaims: false,
    allowOmittingSingleRegisteredRedirectUri: false,
    cookies: { keys: [...settings.cookieKeys] },
    jwks: { keys: ringKeys(settings.keys).map((key) => key.privateJwk) },
    findAccount: findAccount(realm),
    loadExistingGrant: autoConsent,
    interactions: { url: (_ctx, interaction) => `${basePath}${LOGIN_ACTIONS_ROUTE}/${interaction.uid}` },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // A new refresh token per refresh gives Keycloak's sliding idle timeout.
    rotateRefreshToken: true,
    extraTokenClaims: extraTokenClaims(realm),
    formats: { customizers: { jwt: keycloakAccessToken(realm) } },
    pkce: { required: pkceRequired(realm) },
    routes: KEYCLOAK_ROUTES,
    discovery: { userinfo_endpoint: `${issuer}${KEYCLOAK_ROUTES.userinfo}` },
    renderError: pages.renderError,
    ttl: {
      AccessToken: realm.accessTokenLifespan,
      ClientCredentials: realm.accessTokenLifespan,
      IdToken: realm.accessTokenLifespan,
      AuthorizationCode: AUTHORIZATION_CODE_TTL,
      Interaction: LOGIN_TTL,
      RefreshToken: refreshTokenTtl(realm),
      Session: realm.ssoSessionMaxLifespan,
      Grant: realm.ssoSessionMaxLifespan,
    },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      // oidc-provider's userinfo refuses audience-bound tokens; the server answers Keycloak's userinfo itself.
      userinfo: { enabled: false },
      resourceIndicators: resourceIndicators(settings),
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      rpInitiatedLogout: { enabled: true, logoutSource: pages.logoutSource, postLogoutSuccessSource: pages.postLogoutSuccessSource },
    },
  };
}
