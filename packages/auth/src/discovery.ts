/** The parts of an issuer's OpenID Connect discovery document that Agora uses. */
export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string | undefined;
}

/** Reads `<issuer>/.well-known/openid-configuration` and checks that it names exactly this issuer. */
export async function discoverIssuer(issuer: string): Promise<IssuerMetadata> {
  const discoveryUrl = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(discoveryUrl, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`OIDC discovery ${discoveryUrl} answered ${response.status}`);
  const discovery = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown; token_endpoint?: unknown };
  if (discovery.issuer !== issuer) throw new Error(`OIDC discovery names issuer ${String(discovery.issuer)}, expected ${issuer}`);
  if (typeof discovery.jwks_uri !== 'string') throw new Error(`OIDC discovery ${discoveryUrl} has no jwks_uri`);
  return {
    issuer,
    jwksUri: discovery.jwks_uri,
    tokenEndpoint: typeof discovery.token_endpoint === 'string' ? discovery.token_endpoint : undefined,
  };
}

/** Memoizes an async load; a failure is forgotten so that the next call tries again. */
export function retryingOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}
