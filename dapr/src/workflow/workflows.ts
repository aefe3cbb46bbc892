import type { Logger } from '@agora/service';
import type { FastifyInstance } from 'fastify';
import type { ActorStateStore } from '../components/registry.ts';
import { WorkflowEngine } from './engine.ts';
import { startWorkflowGrpcServer } from './grpc-server.ts';
import { registerWorkflowApi } from './http-api.ts';
import { WorkflowStore } from './store.ts';

export interface WorkflowsOptions {
  app: FastifyInstance;
  appId: string;
  actorStateStore: ActorStateStore | undefined;
  host: string;
  grpcPort: number | undefined;
  logger: Logger;
}

/**
 * The workflow building block: the engine on the actor state store (state.postgresql only),
 * the Durable Task gRPC service on the gRPC port and the HTTP management API. Without an actor
 * state store, as with daprd, every workflow call fails with a message saying why.
 */
export async function startWorkflows(options: WorkflowsOptions): Promise<{ grpcPort: number | undefined; stop(): Promise<void> }> {
  const { actorStateStore, logger } = options;
  let engine: WorkflowEngine | undefined;
  if (actorStateStore?.type === 'state.postgresql') {
    const connectionString = Object.entries(actorStateStore.metadata).find(([key]) => key.toLowerCase() === 'connectionstring')?.[1] ?? '';
    const workflowLogger = logger.child({ component: 'workflow' });
    const store = new WorkflowStore(connectionString, options.appId, (error) => workflowLogger.warn({ err: error }, 'workflow store: a connection failed'));
    engine = new WorkflowEngine(store, options.appId, workflowLogger);
    await engine.start();
  } else if (actorStateStore) {
    logger.warn({ component: actorStateStore.name, type: actorStateStore.type }, 'the actor state store is not state.postgresql; the local sidecar runs workflows on state.postgresql only, so the workflow API is off');
  }
  registerWorkflowApi(options.app, engine);
  const grpc = options.grpcPort === undefined ? undefined : await startWorkflowGrpcServer(engine, options.host, options.grpcPort, logger).catch(async (error: unknown) => {
    await engine?.stop();
    throw error;
  });
  return {
    grpcPort: grpc?.port,
    async stop() {
      await grpc?.stop();
      await engine?.stop();
    },
  };
}
