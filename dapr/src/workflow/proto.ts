import { createRequire } from 'node:module';

// The Durable Task protocol exactly as @dapr/dapr's WorkflowRuntime and DaprWorkflowClient speak
// it: the google-protobuf classes and the grpc-js service definition generated from
// orchestrator_service.proto, loaded from the SDK's own copy so that the wire format cannot drift.
// They are CommonJS modules without named ESM exports, hence createRequire.

import type * as GrpcDefinitions from '@dapr/dapr/workflow/internal/durabletask/proto/orchestrator_service_grpc_pb.js';
import type * as ProtoMessages from '@dapr/dapr/workflow/internal/durabletask/proto/orchestrator_service_pb.js';
import type * as EmptyMessages from 'google-protobuf/google/protobuf/empty_pb.js';
import type * as TimestampMessages from 'google-protobuf/google/protobuf/timestamp_pb.js';
import type * as WrapperMessages from 'google-protobuf/google/protobuf/wrappers_pb.js';

type ProtoModule = typeof ProtoMessages;
type GrpcModule = typeof GrpcDefinitions;
type WrappersModule = typeof WrapperMessages;
type TimestampModule = typeof TimestampMessages;
type EmptyModule = typeof EmptyMessages;

const sdkRequire = createRequire(createRequire(import.meta.url).resolve('@dapr/dapr'));
const PROTO_DIR = '@dapr/dapr/workflow/internal/durabletask/proto';

export const pb = sdkRequire(`${PROTO_DIR}/orchestrator_service_pb.js`) as ProtoModule;
export const { TaskHubSidecarServiceService } = sdkRequire(`${PROTO_DIR}/orchestrator_service_grpc_pb.js`) as GrpcModule;
export const { StringValue } = sdkRequire('google-protobuf/google/protobuf/wrappers_pb.js') as WrappersModule;
export const { Timestamp } = sdkRequire('google-protobuf/google/protobuf/timestamp_pb.js') as TimestampModule;
export const { Empty } = sdkRequire('google-protobuf/google/protobuf/empty_pb.js') as EmptyModule;

export type HistoryEvent = InstanceType<ProtoModule['HistoryEvent']>;
export type OrchestratorAction = InstanceType<ProtoModule['OrchestratorAction']>;
export type TaskFailureDetails = InstanceType<ProtoModule['TaskFailureDetails']>;
export type OrchestrationState = InstanceType<ProtoModule['OrchestrationState']>;
export type WorkItem = InstanceType<ProtoModule['WorkItem']>;
/** A WorkItem already in its wire form (workItemBytes): sent as is. */
export type EncodedWorkItem = Buffer & { readonly encodedWorkItem: true };
export type OrchestrationStatus = ProtoModule['OrchestrationStatus'][keyof ProtoModule['OrchestrationStatus']];
export const Status = pb.OrchestrationStatus;

/** Wraps an optional string as google.protobuf.StringValue (undefined stays unset). */
export function stringValue(value: string | undefined): InstanceType<typeof StringValue> | undefined {
  if (value === undefined) return undefined;
  const wrapper = new StringValue();
  wrapper.setValue(value);
  return wrapper;
}

export function timestamp(date: Date): InstanceType<typeof Timestamp> {
  const value = new Timestamp();
  value.fromDate(date);
  return value;
}

const TERMINAL: ReadonlySet<OrchestrationStatus> = new Set([Status.ORCHESTRATION_STATUS_COMPLETED, Status.ORCHESTRATION_STATUS_FAILED, Status.ORCHESTRATION_STATUS_TERMINATED, Status.ORCHESTRATION_STATUS_CANCELED]);

/** A status read back from storage; throws on a number that is no OrchestrationStatus. */
const STATUSES = new Map<number, OrchestrationStatus>(
  Object.values(Status)
    .filter((candidate) => typeof candidate !== 'string')
    .map((status) => [status, status]),
);

export function toStatus(value: number): OrchestrationStatus {
  const status = STATUSES.get(value);
  if (status === undefined) throw new Error(`unknown orchestration status ${value}`);
  return status;
}

export const isTerminal = (status: OrchestrationStatus): boolean => TERMINAL.has(status);

/** The status's name as Dapr's HTTP API and logs show it (RUNNING, COMPLETED, …). */
export function statusName(status: OrchestrationStatus): string {
  const entry = Object.entries(Status).find(([, value]) => value === status);
  return entry ? entry[0].replace('ORCHESTRATION_STATUS_', '') : 'UNKNOWN';
}

export function failureDetails(errorType: string, errorMessage: string, options: { nonRetriable?: boolean } = {}): TaskFailureDetails {
  const details = new pb.TaskFailureDetails();
  details.setErrortype(errorType);
  details.setErrormessage(errorMessage);
  details.setIsnonretriable(options.nonRetriable ?? false);
  return details;
}

// WorkItems in wire form, from parts already encoded (history events as stored, activity requests
// as scheduled), so that a step does not serialize its whole past again. Field numbers are those
// of orchestrator_service.proto: WorkItem.orchestratorRequest = 1, WorkItem.activityRequest = 2;
// OrchestratorRequest.instanceId = 1, .executionId = 2 (StringValue.value = 1), .pastEvents = 3,
// .newEvents = 4. A test decodes them with the SDK's own classes (dapr/test/workflow-api.test.ts).

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A length-delimited field: its key, its length, its bytes. */
const delimited = (field: number, bytes: Uint8Array): Buffer[] => [varint((field << 3) | 2), varint(bytes.length), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)];

const encoded = (parts: Buffer[]): EncodedWorkItem => Buffer.concat(parts) as EncodedWorkItem;

export function orchestratorWorkItem(instanceId: string, executionId: string, past: readonly Uint8Array[], newEvents: readonly Uint8Array[]): EncodedWorkItem {
  const request = Buffer.concat([
    ...(instanceId.length > 0 ? delimited(1, Buffer.from(instanceId, 'utf8')) : []),
    ...delimited(2, Buffer.concat(executionId.length > 0 ? delimited(1, Buffer.from(executionId, 'utf8')) : [])),
    ...past.flatMap((event) => delimited(3, event)),
    ...newEvents.flatMap((event) => delimited(4, event)),
  ]);
  return encoded(delimited(1, request));
}

export const activityWorkItem = (request: Uint8Array): EncodedWorkItem => encoded(delimited(2, request));
