import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { originAllowed, userClaims } from './claims.ts';
import { bearerToken, sendJson } from './http.ts';
import { ringKeys, SIGNING_ALG, type KeyRing } from './signing-keys.ts';
import { splitScope } from './scopes.ts';
import type { Realm } from './realm.ts';

export interface UserinfoSettings {
  readonly realm: Realm;
  readonly issuer: string;
  readonly keys: KeyRing;
}

type Outcome =
  | { readonly ok: true; readonly claims: Record<string, unknown>; readonly azp: unknown }
  | { readonly ok: false; readonly status: 401 | 403; readonly error: string; readonly description: string };

function reject(status: 401 | 403, error: 'invalid_token' | 'insufficient_scope', description: string): Outcome {
  return { ok: false, status, error, description };
}

async function verifiedPayload(settings: UserinfoSettings, token: string): Promise<JWTPayload | undefined> {
  const keySet = createLocalJWKSet({ keys: ringKeys(settings.keys).map((key) => key.publicJwk) });
  try {
    const { payload } = await jwtVerify(token, keySet, { issuer: settings.issuer, algorithms: [SIGNING_ALG], typ: 'JWT' });
    return payload;
  } catch {
    return undefined;
  }
}

async function resolveClaims(settings: UserinfoSettings, req: IncomingMessage): Promise<Outcome> {
  const token = bearerToken(req);
  if (token === undefined) return reject(401, 'invalid_token', 'Token not provided');
  const payload = await verifiedPayload(settings, token);
  if (payload === undefined || payload.typ !== 'Bearer') return reject(401, 'invalid_token', 'Token verification failed');
  const scope = typeof payload.scope === 'string' ? payload.scope : undefined;
  if (!splitScope(scope).includes('openid')) return reject(403, 'insufficient_scope', 'Missing openid scope');
  const user = payload.sub === undefined ? undefined : settings.realm.user(payload.sub);
  if (user === undefined || !user.enabled) return reject(401, 'invalid_token', 'User not found or disabled');
  return { ok: true, claims: userClaims(user, scope), azp: payload.azp };
}

function allowedOrigin(settings: UserinfoSettings, origin: string | undefined, clientId?: unknown): string | undefined {
  if (origin === undefined) return undefined;
  const clients = typeof clientId === 'string' ? [settings.realm.client(clientId)] : settings.realm.clients;
  return clients.some((client) => client !== undefined && originAllowed(client, origin)) ? origin : undefined;
}

function corsHeaders(origin: string | undefined): Record<string, string> {
  return origin === undefined ? {} : { 'access-control-allow-origin': origin, vary: 'Origin' };
}

function preflight(settings: UserinfoSettings, req: IncomingMessage, res: ServerResponse): void {
  const origin = allowedOrigin(settings, req.headers.origin);
  const headers = origin === undefined ? {} : {
    ...corsHeaders(origin),
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': 'Authorization, Content-Type',
    'access-control-max-age': '3600',
  };
  res.writeHead(204, headers).end();
}

/**
 * Keycloak's userinfo endpoint: accepts the realm's own JWT access tokens, audience-bound or not.
 * oidc-provider keeps no record of JWT access tokens, so a token stays usable here until it expires, even after logout.
 */
export async function handleUserinfo(settings: UserinfoSettings, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'OPTIONS') return preflight(settings, req, res);
  if (req.method !== 'GET' && req.method !== 'POST') {
    sendJson(res, 405, { error: 'invalid_request', error_description: 'Method not allowed' }, { allow: 'GET, POST' });
    return;
  }
  const outcome = await resolveClaims(settings, req);
  if (!outcome.ok) {
    const challenge = `Bearer realm="${settings.realm.name}", error="${outcome.error}", error_description="${outcome.description}"`;
    sendJson(res, outcome.status, { error: outcome.error, error_description: outcome.description }, { 'www-authenticate': challenge });
    return;
  }
  const origin = allowedOrigin(settings, req.headers.origin, outcome.azp);
  sendJson(res, 200, outcome.claims, corsHeaders(origin));
}
