import { defineEntity, p } from '@mikro-orm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { gql } from 'graphql-tag';
import { AuthenticationError } from '@agora/auth';
import { createHttpServer, createLogger, startSubgraph, subgraphEnvSchema, type BaseContext, type RunningSubgraph } from '../src/index.ts';

const logger = createLogger('http-test', 'silent');

describe('createHttpServer', () => {
  let dependencyUp = true;
  const app = createHttpServer({
    logger,
    readiness: async () => {
      if (!dependencyUp) throw new Error('database: connection refused');
    },
  });
  app.get('/things/:id', async () => ({ ok: true }));
  app.get('/broken', async () => {
    throw new Error('boom');
  });
  afterAll(() => app.close());

  it("answers a route's unexpected error without its message, logging it with its stack, and keeps a client error's", async () => {
    const lines: { level: number; msg: string; route?: string; err?: { message: string; stack: string } }[] = [];
    const logged = createHttpServer({ logger: createLogger('http-test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) }), readiness: async () => undefined });
    logged.get('/secret', async () => {
      throw new Error('connect ECONNREFUSED 10.0.0.7:5432 (user agora_payments)');
    });
    logged.post('/echo', async (request) => request.body);
    try {
      const failed = await logged.inject('/secret');
      expect(failed.statusCode).toBe(500);
      expect(failed.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' });
      expect(lines).toMatchObject([{ level: 50, route: '/secret', err: { message: 'connect ECONNREFUSED 10.0.0.7:5432 (user agora_payments)' } }]);
      expect(lines[0]?.err?.stack).toMatch(/http\.test\.ts/);
      const malformed = await logged.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{not json' });
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json<{ message: string }>().message).toMatch(/JSON/);
    } finally {
      await logged.close();
    }
  });

  it('is live while a dependency is down, and ready only while every required one answers', async () => {
    expect((await app.inject('/health/ready')).statusCode).toBe(200);
    dependencyUp = false;
    const ready = await app.inject('/health/ready');
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unavailable', reason: 'database: connection refused' });
    expect((await app.inject('/health/live')).statusCode).toBe(200);
    dependencyUp = true;
  });

  it('serves Prometheus metrics without a token, counting requests by route template and status but not probes', async () => {
    await app.inject('/things/1');
    await app.inject('/things/2');
    await app.inject('/broken');
    await app.inject('/health/live');
    const response = await app.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/openmetrics-text');
    const lines = response.body.split('\n');
    const sample = (name: string, ...labels: string[]) => lines.find((line) => line.startsWith(`${name}{`) && labels.every((label) => line.includes(label)));
    expect(sample('agora_http_requests_total', 'route="/things/:id"', 'status_code="200"', 'method="GET"')).toMatch(/} 2$/);
    expect(sample('agora_http_requests_total', 'route="/broken"', 'status_code="500"')).toMatch(/} 1$/);
    expect(sample('agora_http_request_duration_seconds_count', 'route="/things/:id"')).toMatch(/} 2$/);
    expect(response.body).not.toMatch(/route="\/(health|metrics)/);
  });
});

describe('startSubgraph readiness', () => {
  const Probe = defineEntity({ name: 'Probe', properties: { id: p.integer().primary() } });
  let subgraph: RunningSubgraph<BaseContext> | undefined;
  let sidecarUp = true;
  afterAll(() => subgraph?.stop());

  it('requires the database and whatever the subgraph adds, naming each one that is down', async () => {
    const env = subgraphEnvSchema.parse({
      NODE_ENV: 'test',
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      OIDC_ISSUER_URL: 'http://127.0.0.1:1/realms/agora',
      MIGRATE_ON_START: 'false',
    });
    subgraph = await startSubgraph(
      {
        name: 'probe',
        typeDefs: gql`
          type Query {
            ping: String
          }
        `,
        resolvers: { Query: { ping: () => 'pong' } },
        database: { entities: [Probe], migrations: [], migrationsPath: '.' },
        context: (base) => base,
        async extend({ requireForReadiness }) {
          requireForReadiness('dapr sidecar', async () => {
            if (!sidecarUp) throw new Error('fetch failed');
          });
          return undefined;
        },
      },
      env,
      { verifier: { verify: () => Promise.reject(new AuthenticationError('no tokens here')) } },
    );
    const probe = (path: string) => fetch(new URL(path, subgraph?.url));
    const first = await probe('/health/ready');
    expect(await first.json()).toEqual({ status: 'ready' });
    sidecarUp = false;
    const ready = await probe('/health/ready');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'dapr sidecar: fetch failed' });
    expect((await probe('/health/live')).status).toBe(200);
  });
});
