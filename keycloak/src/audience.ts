import type { ResourceServer } from 'oidc-provider';
import { SUPPORTED_SCOPES } from './scopes.ts';
import { SIGNING_ALG } from './signing-keys.ts';
import { audiencesOf, type RealmClient } from './realm.ts';

const INDICATOR_PREFIX = 'urn:agora:keycloak-client:';

/** The internal resource indicator that stands for "the audiences of this client's audience mappers". */
export function resourceIndicator(clientId: string): string {
  return `${INDICATOR_PREFIX}${encodeURIComponent(clientId)}`;
}

// Keycloak omits aud without audience mappers, but oidc-provider requires one, so fall back to the client itself.
export function tokenAudiences(client: RealmClient): string[] {
  const audiences = audiencesOf(client);
  return audiences.length > 0 ? audiences : [client.clientId];
}

export function audienceClaim(client: RealmClient): string | string[] {
  const audiences = tokenAudiences(client);
  return audiences.length === 1 && audiences[0] !== undefined ? audiences[0] : audiences;
}

export function resourceServerFor(client: RealmClient, lifespan: number, kid: string): ResourceServer {
  return {
    scope: SUPPORTED_SCOPES.join(' '),
    audience: tokenAudiences(client)[0],
    accessTokenFormat: 'jwt',
    accessTokenTTL: lifespan,
    jwt: { sign: { alg: SIGNING_ALG, kid } },
  };
}
