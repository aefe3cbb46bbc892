import * as grpc from '@grpc/grpc-js';
import { isUnavailable, type Logger } from '@agora/service';
import { WorkflowError, type WorkflowEngine } from './engine.ts';
import { Empty, pb, stringValue, TaskHubSidecarServiceService, timestamp, type EncodedWorkItem, type OrchestrationStatus } from './proto.ts';
import type { InstanceFilter, InstanceRow } from './store.ts';

// The sidecar's gRPC port (DAPR_GRPC_PORT): the Durable Task TaskHubSidecarService that
// @dapr/dapr's WorkflowRuntime (GetWorkItems, Complete*Task) and DaprWorkflowClient (the rest) call.

const STATUS_CODES: Record<WorkflowError['code'], grpc.status> = {
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
};

/** The service as generated, except that work items go out already encoded (proto.ts). */
const SERVICE: grpc.ServiceDefinition = {
  ...TaskHubSidecarServiceService,
  getWorkItems: { ...TaskHubSidecarServiceService.getWorkItems, responseSerialize: (item: EncodedWorkItem) => item },
};

const NO_ENGINE = 'the workflow engine is not available: this app has no state store component with metadata actorStateStore: "true" (state.postgresql)';

function toServiceError(error: unknown): Partial<grpc.ServiceError> {
  if (error instanceof WorkflowError) return { code: STATUS_CODES[error.code], details: error.message };
  // The workflow store's database restarting or refusing connections: transient, worth a retry.
  const code = isUnavailable(error) ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL;
  return { code, details: error instanceof Error ? error.message : String(error) };
}

export function orchestrationState(instance: InstanceRow, withPayloads: boolean): InstanceType<typeof pb.OrchestrationState> {
  const state = new pb.OrchestrationState();
  state.setInstanceid(instance.instanceId);
  state.setName(instance.name);
  state.setOrchestrationstatus(instance.status);
  state.setCreatedtimestamp(timestamp(instance.createdAt));
  state.setLastupdatedtimestamp(timestamp(instance.updatedAt));
  if (instance.scheduledStartAt) state.setScheduledstarttimestamp(timestamp(instance.scheduledStartAt));
  if (withPayloads) {
    state.setInput(stringValue(instance.input ?? undefined));
    state.setOutput(stringValue(instance.output ?? undefined));
    state.setCustomstatus(stringValue(instance.customStatus ?? undefined));
  }
  if (instance.failure) state.setFailuredetails(pb.TaskFailureDetails.deserializeBinary(instance.failure));
  return state;
}

function instanceResponse(instance: InstanceRow | undefined, withPayloads: boolean): InstanceType<typeof pb.GetInstanceResponse> {
  const response = new pb.GetInstanceResponse();
  response.setExists(instance !== undefined);
  if (instance) response.setOrchestrationstate(orchestrationState(instance, withPayloads));
  return response;
}

const firstValue = (metadata: grpc.Metadata, key: string): string | undefined => {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
};

/** Aborted when the call is cancelled by the client or its deadline passes. */
function callSignal(call: grpc.ServerUnaryCall<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new WorkflowError('UNAVAILABLE', 'the call was cancelled')));
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at) && at > 0) return AbortSignal.any([controller.signal, AbortSignal.timeout(Math.max(at - Date.now(), 0))]);
  return controller.signal;
}

export interface WorkflowGrpcServer {
  port: number;
  stop(): Promise<void>;
}

export async function startWorkflowGrpcServer(engine: WorkflowEngine | undefined, host: string, port: number, logger: Logger): Promise<WorkflowGrpcServer> {
  const streams = new Set<grpc.ServerWritableStream<unknown, EncodedWorkItem>>();
  const unary =
    <Request, Response>(handle: (engine: WorkflowEngine, request: Request, call: grpc.ServerUnaryCall<Request, Response>) => Promise<Response>): grpc.handleUnaryCall<Request, Response> =>
    (call, callback) => {
      if (!engine) {
        callback({ code: grpc.status.FAILED_PRECONDITION, details: NO_ENGINE });
        return;
      }
      handle(engine, call.request, call).then(
        (response) => callback(null, response),
        (error: unknown) => {
          if (!(error instanceof WorkflowError)) logger.error({ err: error, path: call.getPath() }, 'workflow gRPC call failed');
          callback(toServiceError(error));
        },
      );
    };

  const unimplemented: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: `${call.getPath()} is not supported by the local sidecar` });

  const filterOf = (statuses: OrchestrationStatus[], from: Date | undefined, to: Date | undefined, prefix: string | undefined): InstanceFilter => ({
    statuses,
    ...(from ? { createdFrom: from } : {}),
    ...(to ? { createdTo: to } : {}),
    ...(prefix ? { instanceIdPrefix: prefix } : {}),
  });

  const server = new grpc.Server();
  server.addService(SERVICE, {
    hello: (_call: unknown, callback: grpc.sendUnaryData<InstanceType<typeof Empty>>) => callback(null, new Empty()),
    startInstance: unary(async (workflows, request: InstanceType<typeof pb.CreateInstanceRequest>, call) => {
      const instanceId = await workflows.startInstance({
        instanceId: request.getInstanceid(),
        name: request.getName(),
        input: request.getInput()?.getValue(),
        scheduledStartAt: request.getScheduledstarttimestamp()?.toDate(),
        traceParent: firstValue(call.metadata, 'traceparent'),
        traceState: firstValue(call.metadata, 'tracestate'),
      });
      const response = new pb.CreateInstanceResponse();
      response.setInstanceid(instanceId);
      return response;
    }),
    getInstance: unary(async (workflows, request: InstanceType<typeof pb.GetInstanceRequest>) =>
      instanceResponse(await workflows.getInstance(request.getInstanceid()), request.getGetinputsandoutputs()),
    ),
    waitForInstanceStart: unary(async (workflows, request: InstanceType<typeof pb.GetInstanceRequest>, call) =>
      instanceResponse(await workflows.waitForInstance(request.getInstanceid(), (instance) => instance.status !== pb.OrchestrationStatus.ORCHESTRATION_STATUS_PENDING, callSignal(call)), request.getGetinputsandoutputs()),
    ),
    waitForInstanceCompletion: unary(async (workflows, request: InstanceType<typeof pb.GetInstanceRequest>, call) => {
      const finished = new Set<OrchestrationStatus>([
        pb.OrchestrationStatus.ORCHESTRATION_STATUS_COMPLETED,
        pb.OrchestrationStatus.ORCHESTRATION_STATUS_FAILED,
        pb.OrchestrationStatus.ORCHESTRATION_STATUS_TERMINATED,
        pb.OrchestrationStatus.ORCHESTRATION_STATUS_CANCELED,
      ]);
      return instanceResponse(await workflows.waitForInstance(request.getInstanceid(), (instance) => finished.has(instance.status), callSignal(call)), request.getGetinputsandoutputs());
    }),
    raiseEvent: unary(async (workflows, request: InstanceType<typeof pb.RaiseEventRequest>) => {
      await workflows.raiseEvent(request.getInstanceid(), request.getName(), request.getInput()?.getValue());
      return new pb.RaiseEventResponse();
    }),
    terminateInstance: unary(async (workflows, request: InstanceType<typeof pb.TerminateRequest>) => {
      // This protocol version has no `recursive` field; as daprd, termination reaches child workflows.
      await workflows.terminate(request.getInstanceid(), request.getOutput()?.getValue(), true);
      return new pb.TerminateResponse();
    }),
    suspendInstance: unary(async (workflows, request: InstanceType<typeof pb.SuspendRequest>) => {
      await workflows.suspend(request.getInstanceid(), request.getReason()?.getValue());
      return new pb.SuspendResponse();
    }),
    resumeInstance: unary(async (workflows, request: InstanceType<typeof pb.ResumeRequest>) => {
      await workflows.resume(request.getInstanceid(), request.getReason()?.getValue());
      return new pb.ResumeResponse();
    }),
    queryInstances: unary(async (workflows, request: InstanceType<typeof pb.QueryInstancesRequest>) => {
      const query = request.getQuery() ?? new pb.InstanceQuery();
      const filter = filterOf(query.getRuntimestatusList(), query.getCreatedtimefrom()?.toDate(), query.getCreatedtimeto()?.toDate(), query.getInstanceidprefix()?.getValue());
      const page = await workflows.query(filter, query.getMaxinstancecount(), query.getContinuationtoken()?.getValue());
      const response = new pb.QueryInstancesResponse();
      response.setOrchestrationstateList(page.instances.map((instance) => orchestrationState(instance, query.getFetchinputsandoutputs())));
      response.setContinuationtoken(stringValue(page.continuationToken));
      return response;
    }),
    purgeInstances: unary(async (workflows, request: InstanceType<typeof pb.PurgeInstancesRequest>) => {
      const filter = request.getPurgeinstancefilter();
      const deleted = filter
        ? await workflows.purge({ filter: filterOf(filter.getRuntimestatusList(), filter.getCreatedtimefrom()?.toDate(), filter.getCreatedtimeto()?.toDate(), undefined) })
        : await workflows.purge({ instanceId: request.getInstanceid() });
      const response = new pb.PurgeInstancesResponse();
      response.setDeletedinstancecount(deleted);
      return response;
    }),
    getWorkItems: (call: grpc.ServerWritableStream<unknown, EncodedWorkItem>) => {
      if (!engine) {
        call.destroy(Object.assign(new Error(NO_ENGINE), { code: grpc.status.FAILED_PRECONDITION }));
        return;
      }
      streams.add(call);
      const worker = engine.connect({
        peer: call.getPeer(),
        send: (item) => {
          if (call.cancelled || call.destroyed || call.writableEnded) return false;
          call.write(item);
          return true;
        },
      });
      const disconnect = () => {
        streams.delete(call);
        worker.disconnect();
      };
      call.on('cancelled', disconnect);
      call.on('close', disconnect);
      call.on('error', disconnect);
    },
    completeActivityTask: unary(async (workflows, request: InstanceType<typeof pb.ActivityResponse>, call) => {
      workflows.completeActivity(request, call.getPeer());
      return new pb.CompleteTaskResponse();
    }),
    completeOrchestratorTask: unary(async (workflows, request: InstanceType<typeof pb.OrchestratorResponse>, call) => {
      workflows.completeOrchestration(request, call.getPeer());
      return new pb.CompleteTaskResponse();
    }),
    rewindInstance: unimplemented,
    createTaskHub: unimplemented,
    deleteTaskHub: unimplemented,
  });

  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    port: boundPort,
    stop: () =>
      new Promise<void>((resolve) => {
        // Streams ended cleanly make the SDK's worker reconnect (to the next sidecar) rather than stop.
        for (const call of streams) call.end();
        streams.clear();
        // Give unary calls a moment, then cut.
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
