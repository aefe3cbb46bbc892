import type { Provider } from 'oidc-provider';
import type { Realm, RealmClient } from './realm.ts';

// Keycloak patterns may end in "*", which matches any suffix; everything else must match exactly.
export function redirectUriMatches(patterns: readonly string[], uri: string): boolean {
  const candidates = [uri, withoutLoopbackPort(uri)].filter((candidate): candidate is string => candidate !== undefined);
  return patterns.some((pattern) => candidates.some((candidate) => (pattern.endsWith('*') ? candidate.startsWith(pattern.slice(0, -1)) : candidate === pattern)));
}

/**
 * A loopback IP redirect URI on any port matches the pattern registered without a port, as in
 * Keycloak (RFC 8252 section 7.3): `http://127.0.0.1/shop/*` accepts `http://127.0.0.1:20400/shop/callback`.
 */
export function withoutLoopbackPort(uri: string): string | undefined {
  const url = URL.parse(uri);
  if (url?.protocol !== 'http:' || url.port === '' || (url.hostname !== '127.0.0.1' && url.hostname !== '[::1]')) return undefined;
  url.port = '';
  return url.href;
}

export function postLogoutRedirectUris(client: RealmClient): string[] {
  const configured = client.attributes['post.logout.redirect.uris'] ?? '+';
  return configured.split('##').flatMap((uri) => (uri === '+' ? client.redirectUris : [uri]));
}

/** Replaces oidc-provider's exact-match checks with Keycloak's wildcard rules, read from the realm. */
export function useKeycloakRedirectRules(provider: Provider, realm: Realm): void {
  const prototype = provider.Client.prototype;
  prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
    const client = realm.client(this.clientId);
    return client !== undefined && client.standardFlowEnabled && redirectUriMatches(client.redirectUris, uri);
  };
  prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(uri) {
    const client = realm.client(this.clientId);
    return client !== undefined && redirectUriMatches(postLogoutRedirectUris(client), uri);
  };
}
