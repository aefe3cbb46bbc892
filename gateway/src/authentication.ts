import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { bearerToken, type Caller, type TokenVerifier } from '@agora/auth';
import { HttpRefusal } from './http-errors.ts';

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

/**
 * Refuses `?access_token=` (RFC 6750 §2.3) instead of ignoring it, which would answer as if the
 * caller were anonymous: URLs end up in logs, browser history and Referer headers, so tokens
 * travel only in the Authorization header.
 */
export const refuseTokenInQuery: onRequestAsyncHookHandler = async (request) => {
  const query = request.url.indexOf('?');
  if (query === -1 || !new URLSearchParams(request.url.slice(query + 1)).has('access_token')) return;
  throw new HttpRefusal(400, 'BAD_REQUEST', 'Access tokens are not accepted in the URL; send them in the Authorization header as "Bearer <token>"', {
    'www-authenticate': 'Bearer error="invalid_request", error_description="access token in the URL"',
  });
};
