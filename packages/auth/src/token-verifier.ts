import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { discoverIssuer, retryingOnce } from './discovery.ts';

export const Role = { CUSTOMER: 'customer', ADMIN: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** The authenticated caller, built from a verified access token. */
export interface Caller {
  readonly sub: string;
  readonly username: string;
  readonly email: string | undefined;
  readonly givenName: string | undefined;
  readonly familyName: string | undefined;
  readonly roles: readonly string[];
  /** The original bearer token, forwarded unchanged to downstream services. */
  readonly token: string;
}

/** A token that is missing, malformed, expired, or not for us. The message says which. */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

export interface TokenVerifier {
  verify(token: string): Promise<Caller>;
}

export interface OidcVerifierOptions {
  /** Exact issuer (`iss`), e.g. http://127.0.0.1:8080/realms/agora. */
  issuer: string;
  /** Required audience (`aud`), e.g. agora-gateway. */
  audience: string;
  /** Accepted signature algorithms; asymmetric only. */
  algorithms?: readonly string[];
  clockToleranceSeconds?: number;
  /** Shortest gap between two JWKS downloads triggered by an unknown `kid`. */
  jwksCooldownMs?: number;
  /**
   * Remember this many verified tokens (0, the default: none), so that a token's signature is
   * checked once rather than on every request. `exp` and `nbf` are still checked every time.
   */
  cacheSize?: number;
  /** The longest a verified token is remembered, however long it lives: bounds how long a key the issuer withdraws still counts. */
  cacheMaxAgeSeconds?: number;
}

const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/**
 * Verifies access tokens against an OIDC issuer's discovery document and JWKS. An unknown
 * `kid` makes jose download the JWKS again, at most once per cooldown, which covers key rotation.
 * See docs/adr/0004-token-verification-with-jose.md.
 */
export function createOidcTokenVerifier(options: OidcVerifierOptions): TokenVerifier {
  const algorithms = [...(options.algorithms ?? ['RS256', 'PS256', 'ES256'])];
  const symmetric = algorithms.filter((alg) => !ASYMMETRIC.has(alg));
  if (symmetric.length > 0) throw new Error(`token algorithms must be asymmetric; refusing ${symmetric.join(', ')}`);

  // A failed discovery is not cached, so the next request tries again.
  const getKeySet = retryingOnce(async () => {
    const { jwksUri } = await discoverIssuer(options.issuer);
    return createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: options.jwksCooldownMs ?? 30_000, timeoutDuration: 5_000 });
  });

  const verify = async (token: string): Promise<{ caller: Caller; payload: JWTPayload }> => {
    const jwks = await getKeySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: options.clockToleranceSeconds ?? 30,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (error) {
      throw new AuthenticationError(describeJoseError(error));
    }
    if (payload['typ'] !== 'Bearer') throw new AuthenticationError('token is not an access token (typ must be Bearer)');
    return { caller: callerFrom(payload, token), payload };
  };
  const cacheSize = options.cacheSize ?? 0;
  if (cacheSize <= 0) return { verify: async (token) => (await verify(token)).caller };
  return cachingVerifier(verify, cacheSize, options.cacheMaxAgeSeconds ?? 60, options.clockToleranceSeconds ?? 30);
}

interface Verified {
  readonly caller: Caller;
  /** Seconds since the epoch, from the verified payload. */
  readonly exp: number;
  readonly nbf: number | undefined;
  /** Milliseconds since the epoch after which the entry is verified again. */
  readonly until: number;
}

/**
 * Remembers verified tokens by their exact text in a bounded LRU map, so that the signature of a
 * token is verified once per `maxAgeSeconds` rather than on every request; each use still checks
 * `exp` and `nbf` as jose does (same clock tolerance). Refused tokens are never remembered.
 */
function cachingVerifier(verify: (token: string) => Promise<{ caller: Caller; payload: JWTPayload }>, size: number, maxAgeSeconds: number, toleranceSeconds: number): TokenVerifier {
  const verified = new Map<string, Verified>();
  return {
    async verify(token) {
      const now = Date.now();
      const entry = verified.get(token);
      if (entry !== undefined) {
        verified.delete(token);
        const seconds = Math.floor(now / 1000);
        if (entry.exp <= seconds - toleranceSeconds) throw new AuthenticationError('token has expired');
        if (entry.nbf !== undefined && entry.nbf > seconds + toleranceSeconds) throw new AuthenticationError('token claim nbf is not valid: check_failed');
        if (now < entry.until) {
          verified.set(token, entry);
          return entry.caller;
        }
      }
      const { caller, payload } = await verify(token);
      // jose checked exp (required) and nbf to be numbers.
      const exp = payload.exp as number;
      const until = Math.min(now + maxAgeSeconds * 1000, (exp + toleranceSeconds) * 1000);
      if (verified.size >= size) {
        const oldest = verified.keys().next();
        if (!oldest.done) verified.delete(oldest.value);
      }
      verified.set(token, { caller, exp, nbf: payload.nbf, until });
      return caller;
    },
  };
}

function callerFrom(payload: JWTPayload, token: string): Caller {
  const realmAccess = payload['realm_access'] as { roles?: unknown } | undefined;
  const roles = Array.isArray(realmAccess?.roles) ? realmAccess.roles.filter((role): role is string => typeof role === 'string') : [];
  const text = (claim: string) => (typeof payload[claim] === 'string' ? payload[claim] : undefined);
  const sub = payload.sub as string;
  return {
    sub,
    username: text('preferred_username') ?? sub,
    email: text('email'),
    givenName: text('given_name'),
    familyName: text('family_name'),
    roles,
    token,
  };
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `token claim ${error.claim} is not valid: ${error.reason}`;
  if (error instanceof errors.JWKSNoMatchingKey) return 'token is signed with an unknown key';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token is signed with an algorithm that is not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature is not valid';
  if (error instanceof errors.JOSEError) return `token is not valid (${error.code})`;
  throw error;
}

/** Extracts the token from an `Authorization: Bearer <token>` header; undefined when absent. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization === '') return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!match?.[1]) throw new AuthenticationError('Authorization header must be "Bearer <token>"');
  return match[1];
}

export const hasRole = (caller: Caller | undefined, role: Role): boolean => caller?.roles.includes(role) ?? false;

/**
 * Whether the token speaks for a person who may act in Agora (a customer or an admin). A token
 * without either role, such as the gateway's own service token, stands for an anonymous caller.
 */
export const isUser = (caller: Caller | undefined): caller is Caller => hasRole(caller, Role.CUSTOMER) || hasRole(caller, Role.ADMIN);
