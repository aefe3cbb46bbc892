import { createOidcTokenVerifier, type TokenVerifier } from '@agora/auth';
import { z } from 'zod';
import { envField } from './env.ts';

/** The token checks every service configures alike (gateway and subgraphs). */
export const oidcEnvFields = {
  OIDC_ISSUER_URL: envField.url('the OIDC issuer URL, e.g. http://127.0.0.1:8080/realms/agora'),
  OIDC_AUDIENCE: z.string().min(1).default('agora-gateway'),
  OIDC_CLOCK_TOLERANCE_SECONDS: envField.count(30),
  /** Shortest gap between two JWKS downloads caused by tokens with an unknown key id. */
  OIDC_JWKS_COOLDOWN_MS: envField.count(30_000),
  /** Verified tokens remembered (0: none): a token's signature is checked once a minute at most; exp and nbf on every request. */
  OIDC_TOKEN_CACHE_SIZE: envField.count(10_000),
};

/** The longest a verified token is remembered: a key the issuer withdraws stops counting within it. */
const TOKEN_CACHE_MAX_AGE_SECONDS = 60;

export type OidcEnv = { [K in keyof typeof oidcEnvFields]: z.infer<(typeof oidcEnvFields)[K]> };

/**
 * The verifier of access tokens `env` describes, for the gateway and every subgraph alike: each
 * verifies every token itself, and remembers the ones it verified (docs/adr/0015).
 */
export const tokenVerifierFromEnv = (env: OidcEnv): TokenVerifier =>
  createOidcTokenVerifier({
    issuer: env.OIDC_ISSUER_URL,
    audience: env.OIDC_AUDIENCE,
    clockToleranceSeconds: env.OIDC_CLOCK_TOLERANCE_SECONDS,
    jwksCooldownMs: env.OIDC_JWKS_COOLDOWN_MS,
    cacheSize: env.OIDC_TOKEN_CACHE_SIZE,
    cacheMaxAgeSeconds: TOKEN_CACHE_MAX_AGE_SECONDS,
  });
