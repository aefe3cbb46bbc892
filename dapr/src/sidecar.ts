import { connect } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { createLogger, type Logger } from '@agora/service';
import { startAppChannel } from './app-channel/app-channel.ts';
import { buildComponents } from './components/registry.ts';
import { loadResources } from './components/resources.ts';
import type { SidecarContext } from './context.ts';
import { sendDaprError } from './http/dapr-error.ts';
import { registerInvocationApi } from './invocation/invoke-api.ts';
import { registerMetadataApi } from './http/metadata-api.ts';
import { registerPublishApi } from './pubsub/publish-api.ts';
import { buildResiliency } from './resiliency/resiliency.ts';
import { registerSecretsApi } from './secrets/secrets-api.ts';
import { registerStateApi } from './state/state-api.ts';
import { startWorkflows } from './workflow/workflows.ts';

export interface SidecarOptions {
  appId: string;
  /** The app's port; without it there is no app channel (no invocation of, or delivery to, the app). */
  appPort?: number;
  appHost?: string;
  /** Where the Dapr HTTP API listens (DAPR_HTTP_PORT); 0 picks a free port. */
  httpPort: number;
  /** Where the gRPC API (the workflow protocol) listens (DAPR_GRPC_PORT); none without it, 0 picks a free port. */
  grpcPort?: number;
  host?: string;
  resourcesPaths: readonly string[];
  /** HTTP origins of the other apps' sidecars, by app id (name resolution within one launch). */
  peers?: Record<string, string>;
  logLevel?: string;
  /** Where logs go; JSON to stdout by default. */
  logger?: Logger;
  /** Environment for secretstores.local.env; the process environment by default. */
  env?: NodeJS.ProcessEnv;
}

export interface RunningSidecar {
  appId: string;
  httpPort: number;
  /** Undefined when the sidecar was started without a gRPC port. */
  grpcPort: number | undefined;
  url: string;
  stop(): Promise<void>;
}

/** Whether `host:port` accepts a TCP connection within a second. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/**
 * A Dapr-API-compatible sidecar for one app: loads its components, serves the Dapr HTTP API
 * and delivers subscribed messages to the app. See docs/adr/0006-local-sidecar.md.
 */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const logger = options.logger ?? createLogger(`${options.appId}-sidecar`, options.logLevel ?? 'info');
  const resources = loadResources(options.resourcesPaths, options.appId);
  const components = await buildComponents(resources.components, options.appId, logger, options.env ?? process.env);
  const appHost = options.appHost ?? '127.0.0.1';

  // The app channel exists once the app's port accepts a TCP connection (daprd waits for its app
  // the same way); until then /v1.0/healthz answers ERR_HEALTH_NOT_READY, as daprd's does, and
  // /outbound already 204. One wait, begun at start and shared by everything that needs the app.
  const stopWaiting = new AbortController();
  let appChannelUp = options.appPort === undefined;
  const waitForApp = async (port: number): Promise<void> => {
    while (!stopWaiting.signal.aborted) {
      if (await accepts(appHost, port)) {
        appChannelUp = true;
        return;
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    }
  };
  const appUp = options.appPort === undefined ? Promise.resolve() : waitForApp(options.appPort);
  const appReady = () => appUp;

  const context: SidecarContext = {
    appId: options.appId,
    app: { host: appHost, port: options.appPort },
    logger,
    resources,
    stateStores: components.stateStores,
    pubsubs: components.pubsubs,
    secretStores: components.secretStores,
    componentMetadata: components.metadata,
    peers: new Map(Object.entries(options.peers ?? {})),
    resiliency: buildResiliency(resources.resiliencies, logger),
    appReady,
  };

  // Typed as Fastify's base logger so the route modules can take a plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    // Request logs use the server's logger as it is: a pino child per request (Fastify's default,
    // for a reqId binding) runs the redaction of its bindings on every request, and log lines
    // already carry the request's trace id.
    childLoggerFactory: (logger) => logger,
    bodyLimit: 4 * 1024 * 1024,
    forceCloseConnections: 'idle',
  });
  // The Dapr API takes bodies of any content type as raw bytes; each route parses what it needs.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.get('/v1.0/healthz', async (_request, reply) => (appChannelUp ? reply.code(204).send() : sendDaprError(reply, 500, 'ERR_HEALTH_NOT_READY', 'dapr is not ready: the app is not listening yet')));
  app.get('/v1.0/healthz/outbound', async (_request, reply) => reply.code(204).send());
  registerStateApi(app, context);
  registerSecretsApi(app, context);
  registerPublishApi(app, context);
  registerInvocationApi(app, context);
  let workflows: Awaited<ReturnType<typeof startWorkflows>> | undefined;
  try {
    workflows = await startWorkflows({ app, appId: options.appId, actorStateStore: components.actorStateStore, host: options.host ?? '127.0.0.1', grpcPort: options.grpcPort, logger });
  } catch (error) {
    stopWaiting.abort();
    await components.close();
    throw error;
  }
  const channel = await startAppChannel(context);
  registerMetadataApi(app, context, channel);

  try {
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.httpPort });
  } catch (error) {
    await channel.close();
    await workflows.stop();
    stopWaiting.abort();
    await components.close();
    throw error;
  }
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : options.httpPort;
  logger.info({ httpPort, grpcPort: workflows.grpcPort, appPort: options.appPort, components: resources.components.map((c) => `${c.name} (${c.type})`) }, 'dapr sidecar ready');

  return {
    appId: options.appId,
    httpPort,
    grpcPort: workflows.grpcPort,
    url: `http://127.0.0.1:${httpPort}`,
    async stop() {
      stopWaiting.abort();
      // Every part stops even when one before it fails, the components (their database pools) last;
      // the first failure is reported after.
      const failures: unknown[] = [];
      for (const part of [() => channel.close(), () => app.close(), () => workflows.stop(), () => components.close()]) {
        await part().catch((error: unknown) => failures.push(error));
      }
      if (failures.length > 0) throw failures[0];
    },
  };
}
