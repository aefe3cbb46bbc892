/** Keycloak's endpoint paths, relative to the realm base path `/realms/<realm>`. */
export const KEYCLOAK_ROUTES = {
  authorization: '/protocol/openid-connect/auth',
  token: '/protocol/openid-connect/token',
  jwks: '/protocol/openid-connect/certs',
  userinfo: '/protocol/openid-connect/userinfo',
  end_session: '/protocol/openid-connect/logout',
  revocation: '/protocol/openid-connect/revoke',
} as const;

export const LOGIN_ACTIONS_ROUTE = '/login-actions/authenticate';

export function realmBasePath(realmName: string): string {
  return `/realms/${encodeURIComponent(realmName)}`;
}
