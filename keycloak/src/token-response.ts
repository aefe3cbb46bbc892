import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import { KEYCLOAK_ROUTES } from './routes.ts';

type Middleware = Parameters<Provider['use']>[0];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Adds the members Keycloak puts in every token response (refresh_expires_in, not-before-policy, session_state). */
export const keycloakTokenResponse: Middleware = async (ctx, next) => {
  await next();
  if (ctx.path !== KEYCLOAK_ROUTES.token || ctx.status !== 200 || !isRecord(ctx.body)) return;
  const { entities } = (ctx as unknown as KoaContextWithOIDC).oidc;
  const { access_token, expires_in, refresh_token, token_type, id_token, scope } = ctx.body;
  ctx.body = {
    access_token,
    expires_in,
    refresh_expires_in: entities.RefreshToken?.remainingTTL ?? 0,
    refresh_token,
    token_type,
    id_token,
    'not-before-policy': 0,
    session_state: entities.AccessToken?.extra?.sid,
    scope,
  };
};
