import * as oidc from 'openid-client';
import { passwordGrant, startOidcProvider } from '@agora/keycloak';
import { anonymousClient, type DevUser, type TestIssuer } from '@agora/testing';
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

/**
 * Set to a realm's issuer (e.g. http://localhost:8080/realms/agora, Keycloak from docker-compose)
 * to run the suites that use `startSuiteIssuer` against it instead of the local provider.
 */
export const EXTERNAL_ISSUER_VARIABLE = 'AGORA_TEST_OIDC_ISSUER';

export interface SuiteIssuer extends TestIssuer {
  /** The whole token response of a password grant by `agora-cli`, obtained with openid-client. */
  passwordTokens(user: DevUser, scope?: string): Promise<oidc.TokenEndpointResponse>;
  /** A refresh token grant by `agora-cli`; rejects when the issuer refuses the token. */
  refresh(refreshToken: string): Promise<oidc.TokenEndpointResponse>;
}

/**
 * The realm issuer for a test file: the local provider on a free port, or the issuer named by
 * AGORA_TEST_OIDC_ISSUER. Tokens come over HTTP through openid-client (discovery, then grants).
 */
export async function startSuiteIssuer(): Promise<SuiteIssuer> {
  const configured = process.env[EXTERNAL_ISSUER_VARIABLE];
  const provider = configured ? undefined : await startOidcProvider({ port: 0 });
  const issuer = configured ?? (provider as { issuer: string }).issuer;
  // openid-client refuses plain-HTTP issuers unless told; the local provider and a dev Keycloak are HTTP.
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated only to stand out; tests against HTTP issuers need it
  const options: oidc.DiscoveryRequestOptions = new URL(issuer).protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {};
  try {
    const cli = await oidc.discovery(new URL(issuer), 'agora-cli', undefined, oidc.None(), options);
    const service = await oidc.discovery(new URL(issuer), anonymousClient.clientId, undefined, oidc.ClientSecretBasic(anonymousClient.clientSecret), options);
    const passwordTokens = (user: DevUser, scope?: string) =>
      oidc.genericGrantRequest(cli, 'password', { username: user, password: `${user}-dev-password`, ...(scope === undefined ? {} : { scope }) });
    const cached = new Map<DevUser, Promise<string>>();
    return {
      issuer,
      passwordTokens,
      refresh: (refreshToken) => oidc.refreshTokenGrant(cli, refreshToken),
      tokenFor(user) {
        let token = cached.get(user);
        if (!token) {
          token = passwordTokens(user).then((response) => response.access_token);
          cached.set(user, token);
        }
        return token;
      },
      serviceToken: async () => (await oidc.clientCredentialsGrant(service)).access_token,
      rotateKeys: () => (provider ? provider.rotateKeys() : Promise.reject(new Error(`cannot rotate the keys of ${issuer}`))),
      close: () => provider?.close() ?? Promise.resolve(),
    };
  } catch (error) {
    await provider?.close();
    throw error;
  }
}
