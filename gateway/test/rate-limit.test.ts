import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, type TestIssuer } from '@agora/testing';
import type { RunningGateway } from '../src/server.ts';
import { codesOf, eventually, graphql, startTestGateway, type GraphQLResponse } from './support.ts';

const TYPENAME = '{ __typename }';
const LIMITS = { RATE_LIMIT_ANONYMOUS_MAX: '3', RATE_LIMIT_MAX: '4' };

let issuer: TestIssuer;
const gateways: RunningGateway[] = [];
beforeAll(async () => {
  issuer = await startTestIssuer();
});
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
});
afterAll(() => issuer?.close());

// Each test gets fresh gateways, so that one test's spent budget never decides another's outcome.
async function gatewayWith(env: Record<string, string>): Promise<RunningGateway> {
  const gateway = await startTestGateway(issuer.issuer, env);
  gateways.push(gateway);
  return gateway;
}

async function statuses(url: string, count: number, token?: string): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i += 1) result.push((await graphql(url, TYPENAME, token ? { token } : {})).status);
  return result;
}

function expectRateLimited(response: GraphQLResponse, windowSeconds: number): void {
  expect(response.status).toBe(429);
  expect(codesOf(response)).toEqual(['RATE_LIMITED']);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe('per-caller rate limiting at the gateway', () => {
  it('answers anonymous requests past RATE_LIMIT_ANONYMOUS_MAX with 429, RATE_LIMITED and Retry-After, but keeps health checks open', async () => {
    const gateway = await gatewayWith(LIMITS);
    expect(await statuses(gateway.url, 3)).toEqual([200, 200, 200]);
    expectRateLimited(await graphql(gateway.url, TYPENAME), 60);
    expect((await fetch(new URL('/health/live', gateway.url))).status).toBe(200);
  });

  it('gives each signed-in user a budget of RATE_LIMIT_MAX of their own, apart from anonymous callers at the same address', async () => {
    const gateway = await gatewayWith(LIMITS);
    const [alice, bob] = [await issuer.tokenFor('alice'), await issuer.tokenFor('bob')];
    expect(await statuses(gateway.url, 4)).toEqual([200, 200, 200, 429]);
    expect(await statuses(gateway.url, 5, alice)).toEqual([200, 200, 200, 200, 429]);
    expectRateLimited(await graphql(gateway.url, TYPENAME, { token: alice }), 60);
    expect(await statuses(gateway.url, 1, bob)).toEqual([200]);
  });

  it('counts requests with invalid tokens against their address, so guessing tokens is limited too', async () => {
    const gateway = await gatewayWith(LIMITS);
    expect(await statuses(gateway.url, 4, 'forged.token.value')).toEqual([401, 401, 401, 429]);
    expect(await statuses(gateway.url, 1)).toEqual([429]);
  });

  it('lets a caller in again once RATE_LIMIT_WINDOW_MS has passed', async () => {
    const gateway = await gatewayWith({ ...LIMITS, RATE_LIMIT_WINDOW_MS: '1000' });
    expect(await statuses(gateway.url, 4)).toEqual([200, 200, 200, 429]);
    const later = await eventually(() => graphql(gateway.url, TYPENAME), (response) => response.status === 200);
    expect(later.status).toBe(200);
  });
});

describe('rate limiting with REDIS_URL', () => {
  const redisUrl = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const prefix = `agora-test:rate-limit:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('shares the counters between gateway instances through Redis', async () => {
    const env = { ...LIMITS, REDIS_URL: redisUrl, RATE_LIMIT_KEY_PREFIX: prefix };
    const [first, second] = [await gatewayWith(env), await gatewayWith(env)];
    expect(await statuses(first.url, 2)).toEqual([200, 200]);
    expect(await statuses(second.url, 1)).toEqual([200]);
    expectRateLimited(await graphql(first.url, TYPENAME), 60);
    expect(await redis.keys(`${prefix}*`)).toHaveLength(1);
  });
});
