import { pb, stringValue, timestamp, type HistoryEvent, type OrchestrationStatus, type TaskFailureDetails } from './proto.ts';

// Constructors for the history events the backend writes, as durabletask-go's backend does:
// events that answer an action carry the action's id as taskScheduledId / timerId; events that
// record an action carry it as eventId; everything else has eventId -1.

function event(eventId: number, at: Date, set: (history: HistoryEvent) => void): HistoryEvent {
  const history = new pb.HistoryEvent();
  history.setEventid(eventId);
  history.setTimestamp(timestamp(at));
  set(history);
  return history;
}

export interface ParentInfo {
  instanceId: string;
  executionId: string;
  name: string;
  taskScheduledId: number;
}

export function executionStarted(options: { name: string; instanceId: string; executionId: string; input: string | undefined; parent?: ParentInfo | undefined; scheduledStartAt?: Date | undefined }): HistoryEvent {
  const started = new pb.ExecutionStartedEvent();
  started.setName(options.name);
  started.setInput(stringValue(options.input));
  const instance = new pb.OrchestrationInstance();
  instance.setInstanceid(options.instanceId);
  instance.setExecutionid(stringValue(options.executionId));
  started.setOrchestrationinstance(instance);
  if (options.parent) {
    const parent = new pb.ParentInstanceInfo();
    parent.setTaskscheduledid(options.parent.taskScheduledId);
    parent.setName(stringValue(options.parent.name));
    const parentInstance = new pb.OrchestrationInstance();
    parentInstance.setInstanceid(options.parent.instanceId);
    parentInstance.setExecutionid(stringValue(options.parent.executionId));
    parent.setOrchestrationinstance(parentInstance);
    started.setParentinstance(parent);
  }
  if (options.scheduledStartAt) started.setScheduledstarttimestamp(timestamp(options.scheduledStartAt));
  return event(-1, new Date(), (history) => history.setExecutionstarted(started));
}

export const orchestratorStarted = (at: Date): HistoryEvent => event(-1, at, (history) => history.setOrchestratorstarted(new pb.OrchestratorStartedEvent()));

export function executionCompleted(eventId: number, status: OrchestrationStatus, result: string | undefined, failure: TaskFailureDetails | undefined): HistoryEvent {
  const completed = new pb.ExecutionCompletedEvent();
  completed.setOrchestrationstatus(status);
  completed.setResult(stringValue(result));
  if (failure) completed.setFailuredetails(failure);
  return event(eventId, new Date(), (history) => history.setExecutioncompleted(completed));
}

/** Recursion to child workflows is the backend's job (this protocol version has no `recurse` field). */
export function executionTerminated(output: string | undefined): HistoryEvent {
  const terminated = new pb.ExecutionTerminatedEvent();
  terminated.setInput(stringValue(output));
  return event(-1, new Date(), (history) => history.setExecutionterminated(terminated));
}

export function executionSuspended(reason: string | undefined): HistoryEvent {
  const suspended = new pb.ExecutionSuspendedEvent();
  suspended.setInput(stringValue(reason));
  return event(-1, new Date(), (history) => history.setExecutionsuspended(suspended));
}

export function executionResumed(reason: string | undefined): HistoryEvent {
  const resumed = new pb.ExecutionResumedEvent();
  resumed.setInput(stringValue(reason));
  return event(-1, new Date(), (history) => history.setExecutionresumed(resumed));
}

export function eventRaised(name: string, input: string | undefined): HistoryEvent {
  const raised = new pb.EventRaisedEvent();
  raised.setName(name);
  raised.setInput(stringValue(input));
  return event(-1, new Date(), (history) => history.setEventraised(raised));
}

export function taskScheduled(eventId: number, name: string, input: string | undefined): HistoryEvent {
  const scheduled = new pb.TaskScheduledEvent();
  scheduled.setName(name);
  scheduled.setInput(stringValue(input));
  return event(eventId, new Date(), (history) => history.setTaskscheduled(scheduled));
}

export function taskCompleted(taskScheduledId: number, result: string | undefined): HistoryEvent {
  const completed = new pb.TaskCompletedEvent();
  completed.setTaskscheduledid(taskScheduledId);
  completed.setResult(stringValue(result));
  return event(-1, new Date(), (history) => history.setTaskcompleted(completed));
}

export function taskFailed(taskScheduledId: number, failure: TaskFailureDetails): HistoryEvent {
  const failed = new pb.TaskFailedEvent();
  failed.setTaskscheduledid(taskScheduledId);
  failed.setFailuredetails(failure);
  return event(-1, new Date(), (history) => history.setTaskfailed(failed));
}

export function timerCreated(eventId: number, fireAt: Date): HistoryEvent {
  const created = new pb.TimerCreatedEvent();
  created.setFireat(timestamp(fireAt));
  return event(eventId, new Date(), (history) => history.setTimercreated(created));
}

export function timerFired(timerId: number, fireAt: Date): HistoryEvent {
  const fired = new pb.TimerFiredEvent();
  fired.setTimerid(timerId);
  fired.setFireat(timestamp(fireAt));
  return event(-1, fireAt, (history) => history.setTimerfired(fired));
}

export function subOrchestrationCreated(eventId: number, instanceId: string, name: string, input: string | undefined): HistoryEvent {
  const created = new pb.SubOrchestrationInstanceCreatedEvent();
  created.setInstanceid(instanceId);
  created.setName(name);
  created.setInput(stringValue(input));
  return event(eventId, new Date(), (history) => history.setSuborchestrationinstancecreated(created));
}

export function subOrchestrationCompleted(taskScheduledId: number, result: string | undefined): HistoryEvent {
  const completed = new pb.SubOrchestrationInstanceCompletedEvent();
  completed.setTaskscheduledid(taskScheduledId);
  completed.setResult(stringValue(result));
  return event(-1, new Date(), (history) => history.setSuborchestrationinstancecompleted(completed));
}

export function subOrchestrationFailed(taskScheduledId: number, failure: TaskFailureDetails): HistoryEvent {
  const failed = new pb.SubOrchestrationInstanceFailedEvent();
  failed.setTaskscheduledid(taskScheduledId);
  failed.setFailuredetails(failure);
  return event(-1, new Date(), (history) => history.setSuborchestrationinstancefailed(failed));
}

export function eventSent(eventId: number, instanceId: string, name: string, input: string | undefined): HistoryEvent {
  const sent = new pb.EventSentEvent();
  sent.setInstanceid(instanceId);
  sent.setName(name);
  sent.setInput(stringValue(input));
  return event(eventId, new Date(), (history) => history.setEventsent(sent));
}

export const encode = (history: HistoryEvent): Buffer => Buffer.from(history.serializeBinary());
export const decode = (bytes: Uint8Array): HistoryEvent => pb.HistoryEvent.deserializeBinary(bytes);
