import { errors, type AccessToken, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { audienceClaim } from './audience.ts';
import { accessTokenClaims, type Claims } from './claims.ts';
import type { Realm, RealmClient } from './realm.ts';

type TokenCustomizer = NonNullable<NonNullable<NonNullable<Configuration['formats']>['customizers']>['jwt']>;
type ExtraTokenClaims = NonNullable<Configuration['extraTokenClaims']>;

export function realmClientFor(realm: Realm, clientId: string | undefined): RealmClient {
  const client = clientId === undefined ? undefined : realm.client(clientId);
  if (client === undefined) throw new errors.InvalidTarget('unknown client');
  return client;
}

// Browser-flow tokens carry only the session uid; Keycloak's sid is the session's id for the client.
async function sessionId(ctx: KoaContextWithOIDC, token: AccessToken): Promise<string | undefined> {
  if (token.sid !== undefined || token.sessionUid === undefined) return token.sid;
  const session = await ctx.oidc.provider.Session.findByUid(token.sessionUid);
  return session?.sidFor(token.clientId ?? '');
}

export function extraTokenClaims(realm: Realm): ExtraTokenClaims {
  return async (ctx, token) => {
    const client = realmClientFor(realm, token.clientId);
    if (token.kind === 'ClientCredentials') {
      const account = realm.serviceAccount(client.clientId);
      return account === undefined ? undefined : accessTokenClaims({ user: account, client, scope: token.scope });
    }
    const user = realm.user(token.accountId);
    return user === undefined ? undefined : accessTokenClaims({ user, client, scope: token.scope, sid: await sessionId(ctx, token) });
  };
}

/** Reshapes oidc-provider's RFC 9068 access token into Keycloak's: `typ: JWT` header, audience list, user subject. */
export function keycloakAccessToken(realm: Realm): TokenCustomizer {
  return (_ctx, token, parts) => {
    const client = realmClientFor(realm, token.clientId);
    const payload: Claims = parts.payload;
    parts.header = { typ: 'JWT' };
    payload.aud = audienceClaim(client);
    if (token.kind === 'ClientCredentials') {
      payload.sub = realm.serviceAccount(client.clientId)?.id ?? payload.sub;
    } else {
      delete payload.client_id;
    }
  };
}
