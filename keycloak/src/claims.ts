import { withoutLoopbackPort } from './redirect-uris.ts';
import { splitScope } from './scopes.ts';
import type { RealmClient, RealmUser } from './realm.ts';

export type Claims = Record<string, unknown>;

function fullName(user: RealmUser): string | undefined {
  const name = [user.firstName, user.lastName].filter((part) => part !== undefined && part !== '').join(' ');
  return name === '' ? undefined : name;
}

function definedOnly(claims: Claims): Claims {
  return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
}

/** Claims Keycloak adds for the "basic", "profile" and "email" client scopes, minus the subject. */
function profileClaims(user: RealmUser, scope: string | undefined): Claims {
  const scopes = new Set(splitScope(scope));
  const profile = scopes.has('profile')
    ? { name: fullName(user), given_name: user.firstName, family_name: user.lastName }
    : {};
  const email = scopes.has('email') ? { email: user.email, email_verified: user.emailVerified } : {};
  return definedOnly({ preferred_username: user.username, ...profile, ...email });
}

export function userClaims(user: RealmUser, scope: string | undefined): Claims & { sub: string } {
  return { sub: user.id, ...profileClaims(user, scope) };
}

/** An ID token's claims: Keycloak marks them `typ: ID` so that they cannot pass for access tokens. */
export function idTokenClaims(user: RealmUser, scope: string | undefined): Claims & { sub: string } {
  return { ...userClaims(user, scope), typ: 'ID' };
}

export function allowedOrigins(client: RealmClient): string[] {
  const origins = client.webOrigins.flatMap((origin) => (origin === '+' ? client.redirectUris.map(originOf) : [origin]));
  return [...new Set(origins.filter((origin): origin is string => origin !== undefined))];
}

function originOf(redirectUri: string): string | undefined {
  return URL.parse(redirectUri.replace(/\*$/, ''))?.origin;
}

export function originAllowed(client: RealmClient, origin: string): boolean {
  const origins = allowedOrigins(client);
  // An origin on a loopback IP is allowed on any port when it is registered without one (see redirect-uris.ts).
  const loopback = withoutLoopbackPort(`${origin}/`)?.slice(0, -1);
  return origins.includes('*') || origins.includes(origin) || (loopback !== undefined && origins.includes(loopback));
}

export interface AccessTokenSubject {
  readonly user: RealmUser;
  readonly client: RealmClient;
  readonly scope: string | undefined;
  readonly sid?: string | undefined;
}

/** The non-registered claims of a Keycloak access token. */
export function accessTokenClaims({ user, client, scope, sid }: AccessTokenSubject): Claims {
  const origins = allowedOrigins(client);
  return definedOnly({
    typ: 'Bearer',
    azp: client.clientId,
    sid,
    acr: '1',
    'allowed-origins': origins.length > 0 ? origins : undefined,
    realm_access: { roles: [...user.realmRoles] },
    ...profileClaims(user, scope),
  });
}
