import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { GatewayEnv } from './env.ts';

/** Where the web app lives in the browser; web/vite.config.ts builds it for this base. */
export const WEB_BASE = '/shop/';

const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** What the web app reads at start: the issuer and client to sign in with, and where GraphQL is. */
export interface WebConfig {
  issuer: string;
  clientId: string;
  graphqlPath: string;
  healthPath: string;
}

/**
 * Serves the built storefront and operations console (web/) at /shop/: its files, its config, and
 * index.html for every other path below /shop/ so that the browser's routes survive a reload.
 * Without a build the paths answer 404 with the command that makes one.
 */
export async function registerWebApp(app: FastifyInstance, env: GatewayEnv, paths: { graphqlPath: string; healthPath: string }): Promise<void> {
  const root = env.WEB_ROOT ?? DEFAULT_WEB_ROOT;
  const config: WebConfig = { issuer: env.WEB_OIDC_ISSUER_URL ?? env.OIDC_ISSUER_URL, clientId: env.WEB_OIDC_CLIENT_ID, ...paths };
  app.get(`${WEB_BASE}config.json`, async (_request, reply) => reply.header('cache-control', 'no-store').send(config));
  app.get(WEB_BASE.slice(0, -1), async (_request, reply) => reply.redirect(WEB_BASE));

  if (!existsSync(join(root, 'index.html'))) {
    app.get(`${WEB_BASE}*`, async (_request, reply) =>
      reply.code(404).type('text/plain').send(`The web app is not built in ${root}: run \`pnpm --filter @agora/web build\` (npm start does).`),
    );
    return;
  }
  // The page runs only its own scripts and styles and talks only to the gateway and the issuer.
  const issuerOrigin = new URL(config.issuer).origin;
  const pageHeaders = {
    'content-security-policy': `default-src 'self'; connect-src 'self' ${issuerOrigin}; img-src 'self' data:; form-action 'self' ${issuerOrigin}; frame-ancestors 'none'; base-uri 'self'; object-src 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
  };
  await app.register(fastifyStatic, {
    root,
    prefix: WEB_BASE,
    index: 'index.html',
    wildcard: false,
    cacheControl: false,
    // Vite's assets carry a content hash and never change; index.html must be revalidated, or a new build would be missed.
    setHeaders: (reply, path) => {
      reply.header('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (path.endsWith('.html')) reply.headers(pageHeaders);
    },
  });
  app.setNotFoundHandler((request, reply) => {
    if (request.method === 'GET' && request.url.startsWith(WEB_BASE) && !request.url.startsWith(`${WEB_BASE}assets/`)) {
      return reply.header('cache-control', 'no-cache').headers(pageHeaders).sendFile('index.html');
    }
    return reply.code(404).send({ message: `Route ${request.method}:${request.url} not found`, error: 'Not Found', statusCode: 404 });
  });
}
