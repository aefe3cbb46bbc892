export { AuthenticationError, bearerToken, createOidcTokenVerifier, hasRole, Role } from './token-verifier.ts';
export type { Caller, OidcVerifierOptions, TokenVerifier } from './token-verifier.ts';
