export const SUPPORTED_SCOPES = ['openid', 'profile', 'email'] as const;

// Keycloak's default client scopes: granted to every client whether requested or not.
const DEFAULT_SCOPES = ['profile', 'email'];

const supported = new Set<string>(SUPPORTED_SCOPES);

export type ScopeResolution = { readonly ok: true; readonly scope: string } | { readonly ok: false; readonly unknown: string[] };

export function splitScope(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter((value) => value !== '');
}

export function withDefaultScopes(scope: string | undefined): string {
  const requested = splitScope(scope);
  const openid = requested.includes('openid') ? ['openid'] : [];
  return [...new Set([...openid, ...DEFAULT_SCOPES, ...requested])].join(' ');
}

export function resolveScope(scope: string | undefined): ScopeResolution {
  const unknown = splitScope(scope).filter((value) => !supported.has(value));
  return unknown.length > 0 ? { ok: false, unknown } : { ok: true, scope: withDefaultScopes(scope) };
}
