import type { FastifyRequest } from 'fastify';
import { bearerToken, type Caller, type TokenVerifier } from '@agora/auth';

/** Resolves the caller of a request: undefined without a token; rejects with AuthenticationError for a bad one. */
export type Authenticate = (request: FastifyRequest) => Promise<Caller | undefined>;

/**
 * Verifies each request's bearer token once, however many steps ask (the rate limiter keys on
 * the caller before the GraphQL context is built).
 */
export function createAuthenticate(verifier: TokenVerifier): Authenticate {
  const results = new WeakMap<FastifyRequest, Promise<Caller | undefined>>();
  const verify = async (request: FastifyRequest) => {
    const token = bearerToken(request.headers.authorization);
    return token === undefined ? undefined : verifier.verify(token);
  };
  return (request) => {
    let result = results.get(request);
    if (!result) {
      result = verify(request);
      results.set(request, result);
    }
    return result;
  };
}
