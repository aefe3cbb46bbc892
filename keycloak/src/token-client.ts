import { z } from 'zod';

export interface PasswordGrantRequest {
  /** The realm issuer, e.g. http://127.0.0.1:8080/realms/agora. */
  readonly issuer: string;
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  readonly scope?: string;
}

export interface PasswordGrantTokens {
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly expiresIn: number;
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.number().int().nonnegative(),
});

const errorResponseSchema = z.object({ error: z.string(), error_description: z.string().optional() });

/** An OAuth error response from the token endpoint, e.g. invalid_grant. */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly error: string;
  readonly errorDescription: string | undefined;
  readonly status: number;

  constructor(status: number, error: string, errorDescription?: string) {
    super(errorDescription === undefined ? error : `${error}: ${errorDescription}`);
    this.status = status;
    this.error = error;
    this.errorDescription = errorDescription;
  }
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

/** Gets tokens with the resource owner password grant from a Keycloak-compatible token endpoint. */
export async function passwordGrant(request: PasswordGrantRequest): Promise<PasswordGrantTokens> {
  const body = new URLSearchParams({
    grant_type: 'password',
    client_id: request.clientId,
    username: request.username,
    password: request.password,
  });
  if (request.scope !== undefined) body.set('scope', request.scope);
  const response = await fetch(`${request.issuer}/protocol/openid-connect/token`, { method: 'POST', body });
  const json = await readJson(response);
  if (!response.ok) {
    const failure = errorResponseSchema.safeParse(json);
    if (failure.success) throw new OAuthError(response.status, failure.data.error, failure.data.error_description);
    throw new OAuthError(response.status, 'server_error', `token endpoint answered HTTP ${response.status}`);
  }
  const tokens = tokenResponseSchema.parse(json);
  return {
    accessToken: tokens.access_token,
    expiresIn: tokens.expires_in,
    ...(tokens.refresh_token === undefined ? {} : { refreshToken: tokens.refresh_token }),
  };
}
