import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from './logger.ts';

export interface HttpServerOptions {
  logger: Logger;
  /** Resolves when every required dependency answers; rejects with the reason otherwise. */
  readiness: () => Promise<void>;
  bodyLimitBytes?: number;
}

/**
 * A Fastify server with the liveness and readiness endpoints every app exposes.
 * Liveness never checks dependencies (a restart would not fix them); readiness does.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- widens Fastify's logger generic to the default instance type
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 1_048_576,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  app.get('/health/live', async () => ({ status: 'ok' }));
  app.get('/health/ready', async (_request, reply) => {
    try {
      await options.readiness();
      return { status: 'ready' };
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', reason: error instanceof Error ? error.message : String(error) });
    }
  });
  return app;
}
