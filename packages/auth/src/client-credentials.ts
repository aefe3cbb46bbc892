import { discoverIssuer, retryingOnce } from './discovery.ts';

export interface ClientCredentialsOptions {
  /** Exact issuer; its discovery document names the token endpoint. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Renew a cached token this long before it expires, or at half its lifetime when that is sooner. */
  renewBeforeExpirySeconds?: number;
}

/** Hands out a service access token, fetching a new one only when the cached one nears expiry. */
export interface ServiceTokenSource {
  token(): Promise<string>;
}

interface CachedToken {
  readonly value: string;
  readonly renewAt: number;
}

/**
 * The OAuth client credentials grant (client_secret_basic) against the issuer's token endpoint.
 * Concurrent callers share one request; a failed request is not cached.
 */
export function createClientCredentialsTokenSource(options: ClientCredentialsOptions): ServiceTokenSource {
  const renewBefore = options.renewBeforeExpirySeconds ?? 30;
  const tokenEndpoint = retryingOnce(async () => {
    const { tokenEndpoint: endpoint } = await discoverIssuer(options.issuer);
    if (endpoint === undefined) throw new Error(`OIDC discovery of ${options.issuer} has no token_endpoint`);
    return endpoint;
  });
  let cached: CachedToken | undefined;
  let pending: Promise<string> | undefined;

  const renew = async (): Promise<string> => {
    const requestedAt = Date.now();
    const { accessToken, expiresIn } = await requestToken(await tokenEndpoint(), options.clientId, options.clientSecret);
    const margin = Math.min(renewBefore, expiresIn / 2);
    cached = { value: accessToken, renewAt: requestedAt + (expiresIn - margin) * 1000 };
    return accessToken;
  };

  return {
    token() {
      if (cached && Date.now() < cached.renewAt) return Promise.resolve(cached.value);
      pending ??= renew().finally(() => {
        pending = undefined;
      });
      return pending;
    },
  };
}

async function requestToken(endpoint: string, clientId: string, clientSecret: string): Promise<{ accessToken: string; expiresIn: number }> {
  // RFC 6749 §2.3.1: both parts are form-encoded before they are joined and base64-encoded.
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
  if (!response.ok || typeof body.access_token !== 'string') {
    const reason = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
    throw new Error(`client credentials grant for ${clientId} at ${endpoint} failed: ${reason}`);
  }
  // expires_in is only RECOMMENDED (RFC 6749 §5.1); without it, renew after a minute.
  return { accessToken: body.access_token, expiresIn: typeof body.expires_in === 'number' ? body.expires_in : 60 };
}
