import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';

export const ALICE_ID = '5a1f0c1e-0000-4000-8000-000000000001';
export const ADMIN_ID = '5a1f0c1e-0000-4000-8000-000000000003';
export const SERVICE_ACCOUNT_ID = '5a1f0c1e-0000-4000-8000-0000000000aa';
export const WEB_REDIRECT_URI = 'http://localhost:4000/callback';

/** expect.any(String), typed as unknown so that it can sit in a matcher object. */
export const aString: unknown = expect.any(String);

export interface TokenResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function tokenRequest(issuer: string, params: Record<string, string>, basic?: [string, string]): Promise<TokenResponse> {
  const headers: Record<string, string> = basic === undefined ? {} : { authorization: `Basic ${Buffer.from(basic.join(':')).toString('base64')}` };
  const response = await fetch(`${issuer}/protocol/openid-connect/token`, { method: 'POST', headers, body: new URLSearchParams(params) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function passwordTokens(issuer: string, username: string, password: string, scope?: string): Promise<TokenResponse> {
  const params = { grant_type: 'password', client_id: 'agora-cli', username, password, ...(scope === undefined ? {} : { scope }) };
  return tokenRequest(issuer, params);
}

export function stringMember(response: TokenResponse, name: string): string {
  const value = response.body[name];
  if (typeof value !== 'string') throw new Error(`token response has no ${name}: ${JSON.stringify(response.body)}`);
  return value;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A cookie-keeping fetch that never follows redirects, standing in for a browser. */
export class Browser {
  readonly #cookies = new Map<string, string>();
  readonly #origin: string;

  constructor(origin: string) {
    this.#origin = origin;
  }

  async get(url: string): Promise<Response> {
    return this.#send(url, { method: 'GET' });
  }

  async postForm(url: string, form: Record<string, string>): Promise<Response> {
    return this.#send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** Follows redirects while they stay on the provider; returns the first response that does not. */
  async follow(response: Response): Promise<Response> {
    let current = response;
    for (let hops = 0; hops < 10; hops += 1) {
      const location = current.headers.get('location');
      if (current.status < 300 || current.status >= 400 || location === null) return current;
      const next = new URL(location, this.#origin);
      if (next.origin !== this.#origin) return current;
      current = await this.get(next.href);
    }
    throw new Error('too many redirects');
  }

  async #send(url: string, init: RequestInit): Promise<Response> {
    const cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const headers = { ...(init.headers as Record<string, string> | undefined), cookie };
    const response = await fetch(new URL(url, this.#origin), { ...init, headers, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) this.#remember(setCookie);
    return response;
  }

  #remember(setCookie: string): void {
    const pair = setCookie.split(';')[0] ?? '';
    const separator = pair.indexOf('=');
    const name = pair.slice(0, separator);
    const value = pair.slice(separator + 1);
    if (value === '') this.#cookies.delete(name);
    else this.#cookies.set(name, value);
  }
}

export function authorizationUrl(issuer: string, params: Record<string, string>): string {
  const url = new URL(`${issuer}/protocol/openid-connect/auth`);
  url.search = new URLSearchParams(params).toString();
  return url.href;
}

export function formAction(html: string): string {
  const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (action === undefined) throw new Error(`no login form in: ${html}`);
  return action.replaceAll('&amp;', '&');
}
