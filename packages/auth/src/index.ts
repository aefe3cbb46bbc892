export { AuthenticationError, bearerToken, createOidcTokenVerifier, hasRole, isUser, Role } from './token-verifier.ts';
export type { Caller, OidcVerifierOptions, TokenVerifier } from './token-verifier.ts';
export { createClientCredentialsTokenSource } from './client-credentials.ts';
export type { ClientCredentialsOptions, ServiceTokenSource } from './client-credentials.ts';
