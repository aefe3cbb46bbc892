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
};

export type OidcEnv = { [K in keyof typeof oidcEnvFields]: z.infer<(typeof oidcEnvFields)[K]> };

/** The verifier of access tokens `env` describes; `cache` remembers verified tokens (the gateway). */
export const tokenVerifierFromEnv = (env: OidcEnv, cache?: { cacheSize: number; cacheMaxAgeSeconds: number }): TokenVerifier =>
  createOidcTokenVerifier({
    issuer: env.OIDC_ISSUER_URL,
    audience: env.OIDC_AUDIENCE,
    clockToleranceSeconds: env.OIDC_CLOCK_TOLERANCE_SECONDS,
    jwksCooldownMs: env.OIDC_JWKS_COOLDOWN_MS,
    ...cache,
  });
