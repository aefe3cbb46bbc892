import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, createLogger, tokenVerifierFromEnv } from '@agora/service';
import { freePort, startTestIssuer, type TestIssuer } from '@agora/testing';
import { createAuthenticate } from '../src/authentication.ts';
import { loadEnv } from '../src/env.ts';
import { registerSystemHealth, SYSTEM_HEALTH_PATH, type SystemHealth, type SystemHealthOptions } from '../src/system-health.ts';

// GET /admin/health on a gateway-like server (createHttpServer, as startGateway builds it) with
// real tokens from the local OIDC provider, and subgraph-like servers: one healthy, one without
// /health/details (an older build), one not ready, one not listening.

const logger = createLogger('system-health-test', 'silent');

let issuer: TestIssuer;
const started: FastifyInstance[] = [];

async function listen(app: FastifyInstance): Promise<string> {
  started.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

/** A subgraph-like app: the shared server with its health endpoints, and /graphql beside them. */
const subgraph = (service: string | undefined, readiness: () => Promise<void>) => listen(createHttpServer({ logger, readiness, ...(service ? { health: { service } } : {}) }));

async function gateway(subgraphUrls: ReadonlyMap<string, string>, readiness: SystemHealthOptions['readiness']): Promise<string> {
  const env = loadEnv({ NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'silent', OIDC_ISSUER_URL: issuer.issuer });
  const app = createHttpServer({ logger, readiness });
  registerSystemHealth(app, { authenticate: createAuthenticate(tokenVerifierFromEnv(env)), subgraphUrls, readiness, env, logger });
  return `${await listen(app)}${SYSTEM_HEALTH_PATH}`;
}

let reportUrl: string;

beforeAll(async () => {
  issuer = await startTestIssuer();
  const users = await subgraph('users', async () => undefined);
  const inventory = await subgraph(undefined, async () => undefined);
  const orders = await subgraph('orders', async () => {
    throw new Error('connection refused');
  });
  const subgraphUrls = new Map([
    ['users', `${users}/graphql`],
    ['inventory', `${inventory}/graphql`],
    ['orders', `${orders}/graphql`],
    ['payments', `http://127.0.0.1:${await freePort()}/graphql`],
  ]);
  reportUrl = await gateway(subgraphUrls, async () => {
    throw new Error('subgraphs not ready: inventory, orders, payments');
  });
});

afterAll(async () => {
  await Promise.all(started.map((app) => app.close()));
  await issuer?.close();
});

const get = (url: string, token?: string) => fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

interface ErrorBody {
  errors: { message: string; extensions: { code: string } }[];
}
const codeOf = async (response: Response) => ((await response.json()) as ErrorBody).errors[0]?.extensions.code;

describe('GET /admin/health', () => {
  it('refuses a request without a token with 401 and a Bearer challenge', async () => {
    const response = await get(reportUrl);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await codeOf(response)).toBe('UNAUTHENTICATED');
  });

  it('refuses an invalid token with 401 invalid_token', async () => {
    const response = await get(reportUrl, 'not-a-jwt');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await codeOf(response)).toBe('UNAUTHENTICATED');
  });

  it('refuses a customer and a role-less service token with 403', async () => {
    for (const token of [await issuer.tokenFor('alice'), await issuer.serviceToken()]) {
      const response = await get(reportUrl, token);
      expect(response.status).toBe(403);
      expect(await codeOf(response)).toBe('FORBIDDEN');
    }
  });

  it('refuses a token in the URL, as the GraphQL routes do', async () => {
    const response = await get(`${reportUrl}?access_token=${await issuer.tokenFor('admin')}`);
    expect(response.status).toBe(400);
    expect(await codeOf(response)).toBe('BAD_REQUEST');
  });

  it('reports the gateway, then each subgraph, to an admin: down ones with the reason, never as a failure of its own', async () => {
    const response = await get(reportUrl, await issuer.tokenFor('admin'));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const report = (await response.json()) as SystemHealth;
    expect(new Date(report.checkedAt).toISOString()).toBe(report.checkedAt);
    expect(report.services.map((service) => [service.service, service.status])).toEqual([
      ['gateway', 'down'],
      ['users', 'up'],
      ['inventory', 'down'],
      ['orders', 'down'],
      ['payments', 'down'],
    ]);
    const [own, users, inventory, orders, payments] = report.services;
    expect(own).toEqual({
      service: 'gateway',
      status: 'down',
      checks: [{ name: 'readiness', ok: false, detail: 'subgraphs not ready: inventory, orders, payments' }],
      sidecar: { status: 'none', breakers: null },
      breakers: [],
    });
    expect(users).toEqual({ service: 'users', status: 'up', checks: [{ name: 'readiness', ok: true }], sidecar: { status: 'none', breakers: null }, breakers: [] });
    expect(inventory).toEqual({ service: 'inventory', status: 'down', reason: '/health/details answered 404', checks: [], sidecar: null, breakers: null });
    expect(orders).toMatchObject({ status: 'down', checks: [{ name: 'readiness', ok: false, detail: 'connection refused' }] });
    expect(payments).toMatchObject({ status: 'down', checks: [], sidecar: null, breakers: null });
    expect(payments && 'reason' in payments ? payments.reason : undefined).toMatch(/^unreachable: .*ECONNREFUSED/);
  });

  it('reports a subgraph that does not answer within 2 s as down, and still answers', async () => {
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const address = hanging.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const url = await gateway(new Map([['orders', `http://127.0.0.1:${port}/graphql`]]), async () => undefined);
      const started = Date.now();
      const response = await get(url, await issuer.tokenFor('admin'));
      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(4_000);
      const report = (await response.json()) as SystemHealth;
      expect(report.services.map((service) => service.status)).toEqual(['up', 'down']);
      expect(report.services[1]).toMatchObject({ service: 'orders', reason: 'no answer within 2000 ms' });
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});
