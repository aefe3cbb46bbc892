import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, createLogger, reportCircuitBreaker, type CircuitBreakerState, type HealthDetails } from '../src/index.ts';

// /health/details of the shared HTTP server. The sidecar here stands in for daprd, which reports
// no breakers in /v1.0/metadata; the local sidecar's extension is tested in
// subgraphs/payments/test/health-details.test.ts.

const logger = createLogger('health-details-test', 'silent');

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

let databaseUp = true;
const dependencies = new Map<string, () => Promise<void>>([
  [
    'database',
    async () => {
      if (!databaseUp) throw new Error('connection refused');
    },
  ],
  ['cache', async () => undefined],
]);

let daprd: Server;
let daprdPort: number;
let closedPort: number;

beforeAll(async () => {
  daprd = createServer((request, response) => {
    if (request.url === '/v1.0/healthz') return void response.writeHead(204).end();
    if (request.url === '/v1.0/metadata') return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'probe', runtimeVersion: '1.16.0', extended: {} }));
    response.writeHead(404).end();
  });
  daprdPort = await listen(daprd);
  const closed = createServer();
  closedPort = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
});
afterAll(async () => {
  daprd.closeAllConnections();
  await new Promise((resolve) => daprd?.close(resolve));
});

async function detailsOf(daprHttpPort: number | undefined): Promise<{ status: number; cacheControl: string | undefined; body: HealthDetails }> {
  const app = createHttpServer({ logger, readiness: dependencies, health: { service: 'probe', daprHttpPort } });
  try {
    const response = await app.inject('/health/details');
    const cacheControl = response.headers['cache-control'];
    return { status: response.statusCode, cacheControl: typeof cacheControl === 'string' ? cacheControl : undefined, body: response.json<HealthDetails>() };
  } finally {
    await app.close();
  }
}

describe('/health/details', () => {
  it('reports each readiness check, and the service down (with 200) while one fails, as /health/ready does', async () => {
    const up = await detailsOf(undefined);
    expect(up.status).toBe(200);
    expect(up.cacheControl).toBe('no-store');
    expect(up.body).toEqual({
      service: 'probe',
      status: 'up',
      checks: [
        { name: 'database', ok: true },
        { name: 'cache', ok: true },
      ],
      sidecar: { status: 'none', breakers: null },
      breakers: [],
    });

    databaseUp = false;
    try {
      const down = await detailsOf(undefined);
      expect(down.status).toBe(200);
      expect(down.body.status).toBe('down');
      expect(down.body.checks).toEqual([
        { name: 'database', ok: false, detail: 'connection refused' },
        { name: 'cache', ok: true },
      ]);
      const app = createHttpServer({ logger, readiness: dependencies });
      const ready = await app.inject('/health/ready');
      await app.close();
      expect([ready.statusCode, ready.json()]).toEqual([503, { status: 'unavailable', reason: 'database: connection refused' }]);
    } finally {
      databaseUp = true;
    }
  });

  it('reports a sidecar without breaker states (daprd) as up with breakers not reported', async () => {
    const { body } = await detailsOf(daprdPort);
    expect(body.sidecar).toEqual({ status: 'up', breakers: null });
    expect(body.status).toBe('up');
  });

  it('reports an unreachable sidecar as down, and the service as degraded', async () => {
    const { body } = await detailsOf(closedPort);
    expect(body.sidecar).toMatchObject({ status: 'down', breakers: null });
    expect(body.sidecar.detail).toMatch(/ECONNREFUSED/);
    expect(body.status).toBe('degraded');
  });

  it('reports the state of every breaker the process registered, degraded while one is not closed', async () => {
    let state: CircuitBreakerState = 'closed';
    reportCircuitBreaker('test-provider', () => state);
    expect((await detailsOf(undefined)).body).toMatchObject({ status: 'up', breakers: [{ name: 'test-provider', state: 'closed' }] });
    state = 'open';
    expect((await detailsOf(undefined)).body).toMatchObject({ status: 'degraded', breakers: [{ name: 'test-provider', state: 'open' }] });
    state = 'half-open';
    expect((await detailsOf(undefined)).body).toMatchObject({ status: 'degraded', breakers: [{ name: 'test-provider', state: 'half-open' }] });
  });

  it('is served only when the server is told which service it is', async () => {
    const app = createHttpServer({ logger, readiness: async () => undefined });
    expect((await app.inject('/health/details')).statusCode).toBe(404);
    await app.close();
  });
});
