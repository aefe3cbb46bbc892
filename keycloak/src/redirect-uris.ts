import type { Provider } from 'oidc-provider';
import type { Realm, RealmClient } from './realm.ts';

// Keycloak patterns may end in "*", which matches any suffix; everything else must match exactly.
export function redirectUriMatches(patterns: readonly string[], uri: string): boolean {
  return patterns.some((pattern) => (pattern.endsWith('*') ? uri.startsWith(pattern.slice(0, -1)) : uri === pattern));
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
