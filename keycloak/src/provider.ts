import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Provider } from 'oidc-provider';
import { buildProvider } from './build-provider.ts';
import { HttpError, sendJson } from './http.ts';
import { handleLoginAction } from './login-actions.ts';
import { MemoryStore } from './memory-store.ts';
import { loadRealm, type Realm } from './realm.ts';
import { KEYCLOAK_ROUTES, LOGIN_ACTIONS_ROUTE, realmBasePath } from './routes.ts';
import { withDefaultScopes } from './scopes.ts';
import { createKeyRing, rotateKeyRing, type KeyRing } from './signing-keys.ts';
import { handleUserinfo } from './userinfo.ts';

export interface OidcProviderOptions {
  /** Keycloak realm export to serve; defaults to the bundled agora-realm.json. */
  readonly realmFile?: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
}

export interface RunningOidcProvider {
  /** `http://<host>:<port>/realms/<realm>`, as Keycloak's issuer. */
  readonly issuer: string;
  /** `http://<host>:<port>`, the server root. */
  readonly url: string;
  /** Signs new tokens with a fresh key while still publishing the previous one. */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

interface Served {
  readonly keys: KeyRing;
  readonly provider: Provider;
  readonly handle: ReturnType<Provider['callback']>;
}

interface ServerContext {
  readonly realm: Realm;
  readonly issuer: string;
  readonly basePath: string;
  readonly store: MemoryStore;
  readonly cookieKeys: readonly string[];
  served: Served | undefined;
}

const DEFAULT_HOST = '127.0.0.1';
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

// A wildcard bind address is not something a client can call, so the issuer names localhost instead.
function urlHost(host: string): string {
  if (WILDCARD_HOSTS.has(host)) return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function serve(context: ServerContext, keys: KeyRing): Promise<Served> {
  const { realm, issuer, store, cookieKeys } = context;
  const provider = await buildProvider({ realm, issuer, keys, store, cookieKeys });
  return { keys, provider, handle: provider.callback() };
}

async function rotate(context: ServerContext): Promise<void> {
  const current = context.served;
  if (current !== undefined) context.served = await serve(context, await rotateKeyRing(current.keys));
}

// Keycloak grants its default client scopes unasked; adding them to the request makes oidc-provider do the same.
function providerRequestUrl(context: ServerContext, req: IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const scopes = url.searchParams.getAll('scope');
  const authorization = url.pathname === `${context.basePath}${KEYCLOAK_ROUTES.authorization}`;
  if (req.method !== 'GET' || !authorization || scopes.length > 1) return req.url ?? '/';
  url.searchParams.set('scope', withDefaultScopes(scopes[0]));
  return `${url.pathname}${url.search}`;
}

// oidc-provider derives its mount path from originalUrl minus url, so strip the realm prefix and keep the original.
function forwardToProvider(context: ServerContext, served: Served, req: IncomingMessage, res: ServerResponse): void {
  const original = providerRequestUrl(context, req);
  const rest = original.slice(context.basePath.length);
  Object.assign(req, { originalUrl: original });
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  void served.handle(req, res);
}

// Routing works on the raw path: oidc-provider receives it verbatim, so no normalised form may decide otherwise.
async function route(context: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const served = context.served;
  if (served === undefined) return sendJson(res, 503, { error: 'temporarily_unavailable' });
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path !== context.basePath && !path.startsWith(`${context.basePath}/`)) return sendJson(res, 404, { error: 'Realm does not exist' });
  const relative = path.slice(context.basePath.length);
  if (relative === KEYCLOAK_ROUTES.userinfo) {
    return handleUserinfo({ realm: context.realm, issuer: context.issuer, keys: served.keys }, req, res);
  }
  if (relative.startsWith(`${LOGIN_ACTIONS_ROUTE}/`)) {
    const uid = relative.slice(LOGIN_ACTIONS_ROUTE.length + 1);
    return handleLoginAction({ provider: served.provider, realm: context.realm, action: path, uid }, req, res);
  }
  forwardToProvider(context, served, req, res);
}

function handleRequests(context: ServerContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    route(context, req, res).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof HttpError) return sendJson(res, error.status, { error: 'invalid_request', error_description: error.message });
      sendJson(res, 500, { error: 'server_error', error_description: error instanceof Error ? error.message : String(error) });
    });
  };
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  server.closeIdleConnections();
  await closed;
}

/** Serves a Keycloak realm export over HTTP with oidc-provider, at Keycloak's paths and with Keycloak-shaped tokens. */
export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<RunningOidcProvider> {
  const realm = await loadRealm(options.realmFile);
  const host = options.host ?? DEFAULT_HOST;
  const keys = await createKeyRing();
  const server = createServer();
  const port = await listen(server, host, options.port ?? 0);
  const url = `http://${urlHost(host)}:${port}`;
  const basePath = realmBasePath(realm.name);
  const cookieKeys = [randomBytes(32).toString('base64url')];
  const context: ServerContext = { realm, issuer: `${url}${basePath}`, basePath, store: new MemoryStore(), cookieKeys, served: undefined };
  server.on('request', handleRequests(context));
  try {
    context.served = await serve(context, keys);
  } catch (error) {
    await closeServer(server);
    throw error;
  }
  let rotation: Promise<void> = Promise.resolve();
  let closing: Promise<void> | undefined;
  return {
    issuer: context.issuer,
    url,
    rotateKeys: () => {
      // Rotations run one after another so that each one demotes the key the previous one introduced.
      rotation = rotation.catch(() => undefined).then(() => rotate(context));
      return rotation;
    },
    close: () => {
      closing ??= closeServer(server);
      return closing;
    },
  };
}
