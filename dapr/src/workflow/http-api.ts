import type { FastifyInstance, FastifyReply } from 'fastify';
import { sendDaprError } from '../http/dapr-error.ts';
import { WorkflowError, type WorkflowEngine } from './engine.ts';
import { isTerminal, pb, statusName } from './proto.ts';
import type { InstanceRow } from './store.ts';

// Dapr's workflow HTTP API (https://docs.dapr.io/reference/api/workflow_api/), on /v1.0 and the
// older /v1.0-beta1 prefix, for the built-in workflow component "dapr". Bodies are the workflow or
// event input as sent (JSON text); answers are 202 with no body, except start and get. Errors are
// daprd's (pkg/messages): 400 for a bad component or instance id, 404 ERR_INSTANCE_ID_NOT_FOUND
// where daprd maps the backend's not-found (get, terminate, purge), else 500 with the operation's code.

const COMPONENT = 'dapr';
/** daprd's limit and alphabet for instance ids given to the HTTP start call (the gRPC API is laxer). */
const HTTP_INSTANCE_ID = /^[\p{L}\p{N}_-]+$/u;
const HTTP_INSTANCE_ID_MAX = 64;

interface ComponentParams {
  component: string;
}

interface Operation {
  /** daprd's error code for failures of this operation (ERR_START_WORKFLOW, …). */
  errorCode: string;
  /** daprd's message for them, given the engine's reason. */
  message: (reason: string) => string;
  /** The instance id, when daprd answers 404 for an unknown one. */
  notFoundId?: string;
}

const bodyText = (body: unknown): string | undefined => (Buffer.isBuffer(body) && body.length > 0 ? body.toString('utf8') : undefined);

function describe(instance: InstanceRow): Record<string, unknown> {
  const properties: Record<string, string> = {};
  if (instance.input !== null) properties['dapr.workflow.input'] = instance.input;
  if (instance.output !== null) properties['dapr.workflow.output'] = instance.output;
  if (instance.customStatus !== null) properties['dapr.workflow.custom_status'] = instance.customStatus;
  if (instance.failure) {
    const failure = pb.TaskFailureDetails.deserializeBinary(instance.failure);
    properties['dapr.workflow.failure.error_type'] = failure.getErrortype();
    properties['dapr.workflow.failure.error_message'] = failure.getErrormessage();
  }
  return {
    instanceID: instance.instanceId,
    workflowName: instance.name,
    createdAt: instance.createdAt.toISOString(),
    lastUpdatedAt: instance.updatedAt.toISOString(),
    runtimeStatus: statusName(instance.status),
    properties,
  };
}

export function registerWorkflowApi(app: FastifyInstance, engine: WorkflowEngine | undefined): void {
  const handle = async (reply: FastifyReply, component: string, operation: Operation, run: (workflows: WorkflowEngine) => Promise<void>): Promise<void> => {
    if (component !== COMPONENT) return void sendDaprError(reply, 400, 'ERR_WORKFLOW_COMPONENT_NOT_FOUND', `workflow component '${component}' does not exist`);
    if (!engine) return void sendDaprError(reply, 500, operation.errorCode, operation.message('the workflow engine needs a state store with metadata actorStateStore: "true" (state.postgresql)'));
    try {
      await run(engine);
      if (!reply.sent) await reply.code(202).send();
    } catch (error) {
      if (error instanceof WorkflowError && error.code === 'NOT_FOUND' && operation.notFoundId !== undefined) {
        return void sendDaprError(reply, 404, 'ERR_INSTANCE_ID_NOT_FOUND', `unable to find workflow with the provided instance ID: ${operation.notFoundId}`);
      }
      if (!(error instanceof WorkflowError)) reply.log.error({ err: error }, 'workflow API call failed');
      sendDaprError(reply, 500, operation.errorCode, operation.message(error instanceof Error ? error.message : String(error)));
    }
  };

  for (const prefix of ['/v1.0/workflows', '/v1.0-beta1/workflows']) {
    app.post<{ Params: ComponentParams & { name: string }; Querystring: { instanceID?: string } }>(`${prefix}/:component/:name/start`, async (request, reply) => {
      const { instanceID } = request.query;
      if (instanceID !== undefined && instanceID !== '') {
        if (instanceID.length > HTTP_INSTANCE_ID_MAX) return sendDaprError(reply, 400, 'ERR_INSTANCE_ID_TOO_LONG', `workflow instance ID exceeds the max length of ${HTTP_INSTANCE_ID_MAX} characters`);
        if (!HTTP_INSTANCE_ID.test(instanceID)) return sendDaprError(reply, 400, 'ERR_INSTANCE_ID_INVALID', `workflow instance ID '${instanceID}' is invalid: only alphanumeric and underscore characters are allowed`);
      }
      const operation = { errorCode: 'ERR_START_WORKFLOW', message: (reason: string) => `error starting workflow '${request.params.name}': ${reason}` };
      return handle(reply, request.params.component, operation, async (workflows) => {
        const traceParent = request.headers.traceparent;
        const traceState = request.headers.tracestate;
        const instanceId = await workflows.startInstance({
          instanceId: instanceID || undefined,
          name: request.params.name,
          input: bodyText(request.body),
          traceParent: typeof traceParent === 'string' ? traceParent : undefined,
          traceState: typeof traceState === 'string' ? traceState : undefined,
        });
        await reply.code(202).send({ instanceID: instanceId });
      });
    });

    app.get<{ Params: ComponentParams & { instanceId: string } }>(`${prefix}/:component/:instanceId`, async (request, reply) => {
      const { instanceId } = request.params;
      const operation = { errorCode: 'ERR_GET_WORKFLOW', message: (reason: string) => `error while getting workflow info on instance '${instanceId}': ${reason}`, notFoundId: instanceId };
      return handle(reply, request.params.component, operation, async (workflows) => {
        const instance = await workflows.getInstance(instanceId);
        if (!instance) throw new WorkflowError('NOT_FOUND', `no workflow instance with id ${instanceId}`);
        await reply.code(200).send(describe(instance));
      });
    });

    app.post<{ Params: ComponentParams & { instanceId: string }; Querystring: { non_recursive?: string } }>(`${prefix}/:component/:instanceId/terminate`, async (request, reply) => {
      const { instanceId } = request.params;
      const operation = { errorCode: 'ERR_TERMINATE_WORKFLOW', message: (reason: string) => `error terminating workflow '${instanceId}': ${reason}`, notFoundId: instanceId };
      return handle(reply, request.params.component, operation, (workflows) => workflows.terminate(instanceId, bodyText(request.body), request.query.non_recursive !== 'true'));
    });

    app.post<{ Params: ComponentParams & { instanceId: string; eventName: string } }>(`${prefix}/:component/:instanceId/raiseEvent/:eventName`, async (request, reply) => {
      const { instanceId, eventName } = request.params;
      const operation = { errorCode: 'ERR_RAISE_EVENT_WORKFLOW', message: (reason: string) => `error raising event on workflow '${instanceId}': ${reason}` };
      return handle(reply, request.params.component, operation, (workflows) => workflows.raiseEvent(instanceId, eventName, bodyText(request.body)));
    });

    app.post<{ Params: ComponentParams & { instanceId: string } }>(`${prefix}/:component/:instanceId/pause`, async (request, reply) => {
      const { instanceId } = request.params;
      const operation = { errorCode: 'ERR_PAUSE_WORKFLOW', message: (reason: string) => `error pausing workflow ${instanceId}: ${reason}` };
      return handle(reply, request.params.component, operation, (workflows) => workflows.suspend(instanceId, bodyText(request.body)));
    });

    app.post<{ Params: ComponentParams & { instanceId: string } }>(`${prefix}/:component/:instanceId/resume`, async (request, reply) => {
      const { instanceId } = request.params;
      const operation = { errorCode: 'ERR_RESUME_WORKFLOW', message: (reason: string) => `error resuming workflow ${instanceId}: ${reason}` };
      return handle(reply, request.params.component, operation, (workflows) => workflows.resume(instanceId, bodyText(request.body)));
    });

    app.post<{ Params: ComponentParams & { instanceId: string } }>(`${prefix}/:component/:instanceId/purge`, async (request, reply) => {
      const { instanceId } = request.params;
      const operation = { errorCode: 'ERR_PURGE_WORKFLOW', message: (reason: string) => `error purging workflow ${instanceId}: ${reason}`, notFoundId: instanceId };
      return handle(reply, request.params.component, operation, async (workflows) => {
        const instance = await workflows.getInstance(instanceId);
        if (!instance) throw new WorkflowError('NOT_FOUND', `no workflow instance with id ${instanceId}`);
        if (!isTerminal(instance.status)) throw new WorkflowError('FAILED_PRECONDITION', `workflow instance ${instanceId} is ${statusName(instance.status)}; only finished instances can be purged`);
        await workflows.purge({ instanceId });
      });
    });
  }
}
