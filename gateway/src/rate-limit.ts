import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { Redis } from 'ioredis';
import { ErrorCode, type Logger } from '@agora/service';
import type { Authenticate } from './authentication.ts';
import type { GatewayEnv } from './env.ts';
import { HttpRefusal } from './http-errors.ts';

/**
 * Registers @fastify/rate-limit and returns the hook to put on GraphQL routes: a fixed window per
 * signed-in caller (`sub`) or, without a valid token, per client address. Counters live in
 * Redis when REDIS_URL is set, so that every gateway instance shares them; else in memory.
 * Over the limit: HTTP 429, `Retry-After`, and a GraphQL error coded RATE_LIMITED.
 */
export async function registerRateLimit(app: FastifyInstance, env: GatewayEnv, authenticate: Authenticate, logger: Logger): Promise<onRequestAsyncHookHandler> {
  const redis = env.REDIS_URL ? connectRedis(env.REDIS_URL, logger) : undefined;
  if (redis) {
    app.addHook('onClose', async () => {
      await redis.quit();
    });
  }
  await app.register(rateLimit, {
    global: false,
    timeWindow: env.RATE_LIMIT_WINDOW_MS,
    keyGenerator: async (request) => {
      const caller = await authenticate(request).catch(() => undefined);
      return caller ? `sub:${caller.sub}` : `ip:${request.ip}`;
    },
    max: (_request, key) => (key.startsWith('sub:') ? env.RATE_LIMIT_MAX : env.RATE_LIMIT_ANONYMOUS_MAX),
    errorResponseBuilder: (_request, context) => new HttpRefusal(context.statusCode, ErrorCode.RATE_LIMITED, `Too many requests; retry in ${context.after}`),
    ...(redis ? { redis, nameSpace: env.RATE_LIMIT_KEY_PREFIX } : {}),
    // An unreachable Redis lets requests through rather than taking the API down with it.
    skipOnError: true,
  });
  return app.rateLimit();
}

function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, { connectTimeout: 1_000, maxRetriesPerRequest: 1 });
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'rate-limit store (Redis) unavailable; requests are not limited meanwhile'));
  return redis;
}
