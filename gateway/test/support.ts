import { passwordGrant } from '@agora/keycloak';
import type { DevUser } from '@agora/testing';
import { loadEnv } from '../src/env.ts';
import { startGateway, type RunningGateway } from '../src/server.ts';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; details?: Record<string, unknown> } }[];
}

export interface RequestOptions {
  token?: string;
  variables?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** POSTs one operation as JSON, as a browser or curl would. */
export async function graphql<T = Record<string, unknown>>(url: string, query: string, options: RequestOptions = {}): Promise<GraphQLResponse<T>> {
  return send<T>(url, JSON.stringify({ query, variables: options.variables }), options);
}

/** POSTs a raw body with a JSON content type. */
export async function send<T = Record<string, unknown>>(url: string, body: string, options: RequestOptions = {}): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
    body,
  });
  return { status: response.status, headers: response.headers, ...((await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>) };
}

export const codesOf = (response: GraphQLResponse<unknown>): (string | undefined)[] => (response.errors ?? []).map((error) => error.extensions?.code);

/** A new access token for a dev user (never cached: some tests need one signed by the current key). */
export async function freshToken(issuer: string, user: DevUser): Promise<string> {
  return (await passwordGrant({ issuer, clientId: 'agora-cli', username: user, password: `${user}-dev-password` })).accessToken;
}

/** The gateway in this process on a free port, quiet, with `env` over the defaults. */
export function startTestGateway(issuer: string, env: Record<string, string> = {}): Promise<RunningGateway> {
  return startGateway(loadEnv({ NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'silent', OIDC_ISSUER_URL: issuer, ...env }));
}

/** Retries `attempt` until it returns a value `accept`s, or fails with the last value after `timeoutMs`. */
export async function eventually<T>(attempt: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
