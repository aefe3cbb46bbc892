import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '@agora/service';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import * as history from './history.ts';
import {
  activityWorkItem,
  failureDetails,
  isTerminal,
  orchestratorWorkItem,
  pb,
  Status,
  statusName,
  stringValue,
  type EncodedWorkItem,
  type HistoryEvent,
  type OrchestrationStatus,
  type OrchestratorAction,
  type TaskFailureDetails,
} from './proto.ts';
import { InstanceExistsError, type ActivityRow, type InstanceFilter, type InstanceRow, type NewInbox, type QueryCursor, type StoreTransaction, type Work, type WorkflowStore } from './store.ts';
import { workflowTelemetry } from './telemetry.ts';

// The Durable Task backend of the local sidecar (docs/adr/0008-workflow-engine.md).
//
// PostgreSQL (store.ts) is the truth; this class decides what runs where. An instance is *ready*
// when its inbox has visible events; it is *running* while one orchestrator work item for it is
// out with a worker (never two at once). Activities are queued until a worker takes them. A
// worker is a GetWorkItems stream of the app's WorkflowRuntime; work is spread over the
// connected streams, at most MAX_OUTSTANDING each. A completion is answered once accepted and
// saved after (as durabletask-go does), each in one statement, or one transaction when other
// instances' rows must be read and locked; then its effects (new ready instances, activities,
// timers, waiters) follow in memory. A step whose save fails runs again; activities may run twice.
//
// This sidecar owns its app id's workflows alone (as one daprd does through actor placement); two
// sidecars with the same app id on one database are not supported.

export type WorkflowErrorCode = 'NOT_FOUND' | 'ALREADY_EXISTS' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'UNAVAILABLE';

export class WorkflowError extends Error {
  override name = 'WorkflowError';
  readonly code: WorkflowErrorCode;

  constructor(code: WorkflowErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A connected GetWorkItems stream. `send` answers false when the stream can no longer take items. */
export interface WorkerConnection {
  readonly peer: string;
  send(item: EncodedWorkItem): boolean;
}

interface Worker {
  connection: WorkerConnection;
  outstanding: number;
  closed: boolean;
}

/** What an orchestrator step's actions amount to, worked out before anything is written. */
interface StepPlan {
  additions: HistoryEvent[];
  inbox: NewInbox[];
  activities: Omit<ActivityRow, 'id'>[];
  children: { taskId: number; childId: string; name: string; input: string | undefined }[];
  completion: InstanceType<typeof pb.CompleteOrchestrationAction> | undefined;
  status: OrchestrationStatus;
  effects: StepEffects;
}

interface OrchestrationLease {
  worker: Worker;
  /** Set once the work item is sent; a completion before that is refused. */
  sent?: { instance: InstanceRow; inboxIds: string[]; newEvents: HistoryEvent[]; newEncoded: Buffer[]; past: Buffer[] };
  startedAt: number;
  orphaned: boolean;
  /** A result was accepted and is being saved; the lease ends when it is. */
  completing?: boolean;
}

interface ActivityLease {
  worker: Worker;
  row: ActivityRow;
  startedAt: number;
  /** A result was accepted and is being saved. */
  completing?: boolean;
}

export interface StartOptions {
  instanceId?: string | undefined;
  name: string;
  input?: string | undefined;
  scheduledStartAt?: Date | undefined;
  traceParent?: string | undefined;
  traceState?: string | undefined;
}

/** The SDK runs maxConcurrentWorkItems at once (10 by default; orders asks for 32) and queues 100 more, dropping the rest: stay well below. */
const MAX_OUTSTANDING = 32;
/** How long a disconnected worker may still complete the orchestrator items it holds. */
const ORPHAN_GRACE_MS = 5_000;
const HISTORY_CACHE_SIZE = 2_000;
/** A sweep for due inbox events, in case a wake-up was missed (e.g. the database was down). */
const SWEEP_INTERVAL_MS = 10_000;
const RETRY_LATER_MS = 1_000;
const STOP_SAVE_WAIT_MS = 5_000;
const MAX_PAGE_SIZE = 1_000;
const INSTANCE_ID = /^[A-Za-z0-9_.:-]{1,256}$/;

/** Retries a database step while PostgreSQL is unreachable (a restart), for up to about 30 s. */
const databaseRetry = retry(
  handleWhen((error) => !(error instanceof WorkflowError) && !(error instanceof InstanceExistsError)),
  { maxAttempts: 8, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 8_000 }) },
);

const keyOf = (instanceId: string, taskId: number) => `${instanceId}\u0000${taskId}`;
const valueOf = (wrapper: { getValue(): string } | undefined): string | undefined => wrapper?.getValue();

function parseContinuationToken(token: string): QueryCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || !/^-?\d{1,20}$/.test(parsed[0]) || typeof parsed[1] !== 'string') {
    throw new WorkflowError('INVALID_ARGUMENT', `invalid continuation token ${JSON.stringify(token.slice(0, 100))}: pass the one a QueryInstances answer gave`);
  }
  return { createdAtMicros: parsed[0], instanceId: parsed[1] };
}

export function validateInstanceId(instanceId: string): void {
  if (!INSTANCE_ID.test(instanceId)) {
    throw new WorkflowError('INVALID_ARGUMENT', `invalid instance id ${JSON.stringify(instanceId.slice(0, 300))}: use 1 to 256 letters, digits, '_', '-', '.' or ':'`);
  }
}

interface StepEffects {
  /** Instances whose queued (and, on continue-as-new, running) activities are no longer wanted. */
  dropped: Map<string, 'queued' | 'all'>;
  ready: Set<string>;
  activities: ActivityRow[];
  wakeAt: Date[];
  /** Instances whose stored state changed, with their new status when it is all that changed that a waiter looks at (else undefined). */
  notify: Map<string, OrchestrationStatus | undefined>;
  started: string[];
  finished: { instance: InstanceRow; status: OrchestrationStatus; error: string | undefined }[];
}

/** Records a change for waiters; two different statuses in one step leave it unknown. */
function notifyOf(effects: StepEffects, instanceId: string, status: OrchestrationStatus | undefined): void {
  effects.notify.set(instanceId, effects.notify.has(instanceId) && effects.notify.get(instanceId) !== status ? undefined : status);
}

const newEffects = (): StepEffects => ({ dropped: new Map(), ready: new Set(), activities: [], wakeAt: [], notify: new Map(), started: [], finished: [] });

export class WorkflowEngine {
  readonly #store: WorkflowStore;
  readonly #appId: string;
  readonly #logger: Logger;
  readonly #workers = new Set<Worker>();
  readonly #ready = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #running = new Map<string, OrchestrationLease>();
  #activityQueue: ActivityRow[] = [];
  readonly #activities = new Map<string, ActivityLease>();
  /** Each instance's committed history, as stored (encoded HistoryEvents): sent as is, never decoded here. */
  readonly #history = new Map<string, { executionId: string; events: Buffer[] }>();
  readonly #traces = new Map<string, { traceParent: string | null; traceState: string | null }>();
  /**
   * Work read by the very statement that made an instance ready (its start, an activity result),
   * so that its dispatch needs no read. Taken only while no step of the instance is out; any other
   * wake-up of the instance or a dispatch voids it, since it may miss events written meanwhile.
   */
  readonly #prefetched = new Map<string, Work>();
  readonly #prefetching = new Map<string, object>();
  readonly #changes = new EventEmitter();
  /** Results accepted and not yet saved; stop() waits for them. */
  readonly #saving = new Set<Promise<void>>();
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt: number | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #stopped = false;

  constructor(store: WorkflowStore, appId: string, logger: Logger) {
    this.#store = store;
    this.#appId = appId;
    this.#logger = logger;
    this.#changes.setMaxListeners(0);
  }

  /** Loads what was in flight when the sidecar stopped: activities to run again, due events, timers. */
  async start(): Promise<void> {
    await this.#store.init();
    this.#activityQueue = await this.#store.pendingActivities();
    await this.#sweep();
    this.#sweepTimer = setInterval(() => void this.#sweep().catch((error: unknown) => this.#logger.warn({ err: error }, 'workflow: sweep for due events failed')), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
    this.#logger.info({ activities: this.#activityQueue.length, ready: this.#ready.size }, 'workflow engine started');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#wakeTimer);
    this.#changes.emit('stop');
    // Results already answered are saved first (what is not saved by then runs again after a restart).
    await Promise.race([Promise.allSettled(this.#saving), new Promise((resolve) => setTimeout(resolve, STOP_SAVE_WAIT_MS).unref())]);
    await this.#store.close();
  }

  #track(saving: Promise<void>): void {
    const tracked: Promise<void> = saving
      .catch((error: unknown) => this.#logger.error({ err: error }, 'workflow: saving a result failed'))
      .finally(() => this.#saving.delete(tracked));
    this.#saving.add(tracked);
  }

  // ---- workers -------------------------------------------------------------------------------

  connect(connection: WorkerConnection): { disconnect(): void } {
    const worker: Worker = { connection, outstanding: 0, closed: false };
    this.#workers.add(worker);
    this.#logger.info({ peer: connection.peer, workers: this.#workers.size }, 'workflow worker connected');
    this.#schedulePump();
    return { disconnect: () => this.#disconnect(worker) };
  }

  #disconnect(worker: Worker): void {
    if (worker.closed) return;
    worker.closed = true;
    this.#workers.delete(worker);
    this.#logger.info({ peer: worker.connection.peer, workers: this.#workers.size }, 'workflow worker disconnected');
    // Activities are at-least-once: run them again elsewhere. An orchestrator step may still be
    // completed by the worker for a short while (its stream broke, not its process).
    for (const [key, lease] of this.#activities) {
      if (lease.worker !== worker || lease.completing) continue;
      this.#activities.delete(key);
      this.#activityQueue.unshift(lease.row);
    }
    for (const [instanceId, lease] of this.#running) {
      if (lease.worker !== worker || lease.completing) continue;
      lease.orphaned = true;
      setTimeout(() => {
        if (this.#running.get(instanceId) === lease && !lease.completing) this.#release(instanceId, lease, true);
      }, ORPHAN_GRACE_MS).unref();
    }
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#stopped) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #freeWorker(): Worker | undefined {
    let best: Worker | undefined;
    for (const worker of this.#workers) if (worker.outstanding < MAX_OUTSTANDING && (!best || worker.outstanding < best.outstanding)) best = worker;
    return best;
  }

  /** Hands out work while some worker has room, alternating orchestrator steps and activities. */
  #pump(): void {
    let preferActivity = false;
    for (;;) {
      const worker = this.#freeWorker();
      if (!worker) return;
      const instanceId = this.#nextReady();
      if (this.#activityQueue.length > 0 && (preferActivity || instanceId === undefined)) {
        if (instanceId !== undefined) this.#ready.add(instanceId);
        this.#dispatchActivity(worker, this.#activityQueue.shift() as ActivityRow);
      } else if (instanceId !== undefined) {
        void this.#dispatchOrchestration(worker, instanceId);
      } else {
        return;
      }
      preferActivity = !preferActivity;
    }
  }

  #nextReady(): string | undefined {
    for (const instanceId of this.#ready) {
      this.#ready.delete(instanceId);
      if (!this.#running.has(instanceId)) return instanceId;
      this.#dirty.add(instanceId);
    }
    return undefined;
  }

  #markReady(instanceId: string, prefetched = false): void {
    if (!prefetched) this.#voidPrefetch(instanceId);
    if (this.#running.has(instanceId)) this.#dirty.add(instanceId);
    else this.#ready.add(instanceId);
    this.#schedulePump();
  }

  #dispatchActivity(worker: Worker, row: ActivityRow): void {
    const key = keyOf(row.instanceId, row.taskId);
    if (this.#activities.has(key)) return;
    const item = activityWorkItem(row.request);
    const lease: ActivityLease = { worker, row, startedAt: Date.now() };
    this.#activities.set(key, lease);
    worker.outstanding += 1;
    if (!worker.connection.send(item)) {
      this.#activities.delete(key);
      worker.outstanding -= 1;
      this.#activityQueue.unshift(row);
      this.#disconnect(worker);
    }
  }

  async #dispatchOrchestration(worker: Worker, instanceId: string): Promise<void> {
    const lease: OrchestrationLease = { worker, startedAt: Date.now(), orphaned: false };
    this.#running.set(instanceId, lease);
    worker.outstanding += 1;
    try {
      const prefetched = this.#prefetched.get(instanceId);
      this.#voidPrefetch(instanceId);
      const { instance, inbox } = prefetched ?? (await this.#store.loadWork(instanceId));
      if (!instance) {
        // Events sent to an id that was never started (or was purged): nobody will read them.
        await this.#store.deleteOrphanInbox(instanceId);
        return this.#release(instanceId, lease, false);
      }
      if (inbox.length === 0) return this.#release(instanceId, lease, false);
      if (isTerminal(instance.status)) {
        // Events that arrived as the instance finished: nobody will read them.
        await this.#store.transaction((tx) => tx.deleteInbox(inbox.map((row) => row.id)));
        return this.#release(instanceId, lease, false);
      }
      if (instance.status === Status.ORCHESTRATION_STATUS_SUSPENDED && !inbox.some((row) => row.kind === 'executionResumed' || row.kind === 'executionTerminated')) {
        // Suspended: the events wait in the inbox until a resume or a termination arrives.
        return this.#release(instanceId, lease, false);
      }
      const past = await this.#loadHistory(instance);
      const started = history.orchestratorStarted(new Date());
      const newEvents = [started, ...inbox.map((row) => history.decode(row.event))];
      const newEncoded = [history.encode(started), ...inbox.map((row) => row.event)];
      const item = orchestratorWorkItem(instanceId, instance.executionId, past, newEncoded);
      if (worker.closed || lease.orphaned) return this.#release(instanceId, lease, true);
      lease.sent = { instance, inboxIds: inbox.map((row) => row.id), newEvents, newEncoded, past };
      this.#traces.set(instanceId, { traceParent: instance.traceParent, traceState: instance.traceState });
      if (!worker.connection.send(item)) {
        this.#release(instanceId, lease, true);
        this.#disconnect(worker);
      }
    } catch (error) {
      this.#logger.warn({ instanceId, err: error }, 'workflow: could not prepare an orchestrator work item; retrying');
      this.#release(instanceId, lease, false);
      this.#retryLater(instanceId);
    }
  }

  /** Ends a lease without applying anything; the instance is ready again when `again` or when events arrived meanwhile. */
  #release(instanceId: string, lease: OrchestrationLease, again: boolean): void {
    if (this.#running.get(instanceId) !== lease) return;
    this.#running.delete(instanceId);
    lease.worker.outstanding -= 1;
    if (again || this.#dirty.delete(instanceId)) this.#ready.add(instanceId);
    this.#schedulePump();
  }

  /** Starts a prefetch for the instance; undefined when a step of it is out (its snapshot could hold consumed events). */
  #beginPrefetch(instanceId: string): object | undefined {
    if (this.#running.has(instanceId)) return undefined;
    const token = {};
    this.#prefetching.set(instanceId, token);
    this.#prefetched.delete(instanceId);
    return token;
  }

  /** Keeps the work read, unless the instance was woken or dispatched since the prefetch began. */
  #endPrefetch(instanceId: string, token: object | undefined, work: Work | undefined): boolean {
    if (token === undefined || this.#prefetching.get(instanceId) !== token) return false;
    this.#prefetching.delete(instanceId);
    if (!work || this.#running.has(instanceId)) return false;
    this.#prefetched.set(instanceId, work);
    return true;
  }

  #voidPrefetch(instanceId: string): void {
    this.#prefetching.delete(instanceId);
    this.#prefetched.delete(instanceId);
  }

  #retryLater(instanceId: string): void {
    setTimeout(() => this.#markReady(instanceId), RETRY_LATER_MS).unref();
  }

  async #loadHistory(instance: InstanceRow): Promise<Buffer[]> {
    const cached = this.#history.get(instance.instanceId);
    if (cached?.executionId === instance.executionId) {
      // Refresh its place in the insertion-ordered map (least recently used goes first).
      this.#history.delete(instance.instanceId);
      this.#history.set(instance.instanceId, cached);
      return cached.events;
    }
    const events = await this.#store.loadHistory(instance.instanceId);
    this.#cacheHistory(instance.instanceId, instance.executionId, events);
    return events;
  }

  #cacheHistory(instanceId: string, executionId: string, events: Buffer[]): void {
    this.#history.delete(instanceId);
    this.#history.set(instanceId, { executionId, events });
    if (this.#history.size > HISTORY_CACHE_SIZE) {
      const oldest = this.#history.keys().next();
      if (!oldest.done) this.#history.delete(oldest.value);
    }
  }

  // ---- timers --------------------------------------------------------------------------------

  #wakeAtTime(at: Date): void {
    const when = at.getTime();
    if (this.#stopped || (this.#wakeAt !== undefined && this.#wakeAt <= when)) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = when;
    const delay = Math.min(Math.max(when - Date.now(), 0), 2 ** 31 - 1);
    this.#wakeTimer = setTimeout(() => {
      this.#wakeAt = undefined;
      void this.#sweep().catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'workflow: could not read due timers; retrying');
        this.#wakeAtTime(new Date(Date.now() + RETRY_LATER_MS));
      });
    }, delay);
    this.#wakeTimer.unref();
  }

  /** Marks instances with due inbox events ready and arms the timer for the next one. */
  async #sweep(): Promise<void> {
    for (const instanceId of await this.#store.instancesWithDueInbox()) this.#markReady(instanceId);
    const next = await this.#store.nextInboxVisibleAt();
    if (next) this.#wakeAtTime(next);
  }

  // ---- completions from workers --------------------------------------------------------------

  /**
   * Takes a worker's orchestrator result. As durabletask-go's executor does, the worker is answered
   * once the result is accepted, not once it is saved: its concurrency slot is free while the step
   * is written. The lease is held until then; if saving fails, the step runs again.
   */
  completeOrchestration(response: InstanceType<typeof pb.OrchestratorResponse>, peer: string): void {
    const instanceId = response.getInstanceid();
    const lease = this.#running.get(instanceId);
    const sent = lease?.sent;
    if (!lease || !sent || lease.completing || lease.worker.connection.peer !== peer) {
      throw new WorkflowError('FAILED_PRECONDITION', `no orchestrator work item for instance ${instanceId} is held by this worker`);
    }
    lease.completing = true;
    const customStatus = response.hasCustomstatus() ? valueOf(response.getCustomstatus()) : undefined;
    this.#track(this.#saveOrchestration(instanceId, lease, sent, response.getActionsList(), customStatus));
  }

  async #saveOrchestration(instanceId: string, lease: OrchestrationLease, sent: NonNullable<OrchestrationLease['sent']>, actions: OrchestratorAction[], customStatus: string | undefined): Promise<void> {
    let effects: StepEffects;
    let events: Buffer[];
    try {
      ({ effects, events } = await databaseRetry.execute(() => this.#saveStep(instanceId, sent, actions, customStatus)));
    } catch (error) {
      // The commit may have happened with only its answer lost: the next step reads history from the database.
      this.#history.delete(instanceId);
      this.#release(instanceId, lease, false);
      this.#retryLater(instanceId);
      if (error instanceof WorkflowError) this.#logger.warn({ instanceId, err: error }, 'workflow: an orchestrator step was not saved');
      else this.#logger.error({ instanceId, err: error }, 'workflow: could not save an orchestrator step; it will run again');
      return;
    }
    workflowTelemetry.orchestratorStep(this.#appId, sent.instance.name, lease.startedAt);
    this.#cacheHistory(instanceId, events.length === 0 ? '' : sent.instance.executionId, events);
    this.#release(instanceId, lease, false);
    this.#applyEffects(effects);
  }

  /** Takes a worker's activity result; answered once accepted, as completeOrchestration. */
  completeActivity(response: InstanceType<typeof pb.ActivityResponse>, peer: string): void {
    const instanceId = response.getInstanceid();
    const taskId = response.getTaskid();
    const key = keyOf(instanceId, taskId);
    const lease = this.#activities.get(key);
    if (!lease || lease.completing || lease.worker.connection.peer !== peer) {
      throw new WorkflowError('FAILED_PRECONDITION', `no activity work item for task ${taskId} of instance ${instanceId} is held by this worker (already completed, handed to another worker, or never dispatched)`);
    }
    lease.completing = true;
    this.#track(this.#saveActivity(key, lease, response));
  }

  async #saveActivity(key: string, lease: ActivityLease, response: InstanceType<typeof pb.ActivityResponse>): Promise<void> {
    const { instanceId, taskId } = lease.row;
    const failure = response.getFailuredetails();
    const event = failure ? history.taskFailed(taskId, failure) : history.taskCompleted(taskId, valueOf(response.getResult()));
    let prefetched: boolean;
    let token: object | undefined;
    const ended = () => {
      if (this.#activities.get(key) !== lease) return;
      this.#activities.delete(key);
      lease.worker.outstanding -= 1;
      this.#schedulePump();
    };
    try {
      // An activity row already gone (the instance finished or continued as new meanwhile) takes no result.
      token = this.#beginPrefetch(instanceId);
      const work = await databaseRetry.execute(() => this.#store.completeActivity(lease.row, failure ? 'taskFailed' : 'taskCompleted', history.encode(event), token !== undefined));
      prefetched = this.#endPrefetch(instanceId, token, work);
    } catch (error) {
      this.#endPrefetch(instanceId, token, undefined);
      if (this.#activities.get(key) === lease) {
        ended();
        setTimeout(() => {
          this.#activityQueue.push(lease.row);
          this.#schedulePump();
        }, RETRY_LATER_MS).unref();
      }
      this.#logger.error({ instanceId, taskId, err: error }, 'workflow: could not save an activity result; the activity will run again');
      return;
    }
    ended();
    const carrier = this.#traces.get(instanceId) ?? { traceParent: null, traceState: null };
    workflowTelemetry.activity(this.#appId, lease.row.name, carrier, lease.startedAt, instanceId, taskId, failure?.getErrormessage());
    this.#markReady(instanceId, prefetched);
  }

  /** Works out what the orchestrator's actions mean, without the database. */
  #planStep(instance: InstanceRow, sent: NonNullable<OrchestrationLease['sent']>, actions: OrchestratorAction[]): StepPlan {
    const plan: StepPlan = {
      additions: [...sent.newEvents],
      inbox: [],
      activities: [],
      children: [],
      completion: undefined,
      status: instance.status === Status.ORCHESTRATION_STATUS_PENDING ? Status.ORCHESTRATION_STATUS_RUNNING : instance.status,
      effects: newEffects(),
    };
    const instanceId = instance.instanceId;
    for (const event of sent.newEvents) {
      if (event.hasExecutionsuspended()) plan.status = Status.ORCHESTRATION_STATUS_SUSPENDED;
      if (event.hasExecutionresumed()) plan.status = Status.ORCHESTRATION_STATUS_RUNNING;
    }
    for (const action of actions) {
      const id = action.getId();
      const scheduleTask = action.getScheduletask();
      const createTimer = action.getCreatetimer();
      const createChild = action.getCreatesuborchestration();
      const sendEvent = action.getSendevent();
      const complete = action.getCompleteorchestration();
      if (scheduleTask) {
        const input = valueOf(scheduleTask.getInput());
        plan.additions.push(history.taskScheduled(id, scheduleTask.getName(), input));
        const request = new pb.ActivityRequest();
        request.setName(scheduleTask.getName());
        request.setVersion(scheduleTask.getVersion());
        request.setInput(scheduleTask.getInput());
        const orchestration = new pb.OrchestrationInstance();
        orchestration.setInstanceid(instanceId);
        orchestration.setExecutionid(stringValue(instance.executionId));
        request.setOrchestrationinstance(orchestration);
        request.setTaskid(id);
        plan.activities.push({ instanceId, executionId: instance.executionId, taskId: id, name: scheduleTask.getName(), request: Buffer.from(request.serializeBinary()) });
      } else if (createTimer) {
        const fireAt = createTimer.getFireat()?.toDate() ?? new Date();
        plan.additions.push(history.timerCreated(id, fireAt));
        plan.inbox.push({ instanceId, kind: 'timerFired', event: history.encode(history.timerFired(id, fireAt)), visibleAt: fireAt });
        plan.effects.wakeAt.push(fireAt);
      } else if (createChild) {
        const childId = createChild.getInstanceid() || `${instanceId}:${id.toString(16).padStart(4, '0')}`;
        const input = valueOf(createChild.getInput());
        plan.additions.push(history.subOrchestrationCreated(id, childId, createChild.getName(), input));
        plan.children.push({ taskId: id, childId, name: createChild.getName(), input });
      } else if (sendEvent) {
        const target = sendEvent.getInstance()?.getInstanceid() ?? '';
        const input = valueOf(sendEvent.getData());
        plan.additions.push(history.eventSent(id, target, sendEvent.getName(), input));
        plan.inbox.push({ instanceId: target, kind: 'eventRaised', event: history.encode(history.eventRaised(sendEvent.getName(), input)) });
        plan.effects.ready.add(target);
      } else if (complete) {
        plan.completion = complete;
        plan.additions.push(history.executionCompleted(id, complete.getOrchestrationstatus(), valueOf(complete.getResult()), complete.getFailuredetails()));
      } else {
        const unsupported = new pb.CompleteOrchestrationAction();
        unsupported.setOrchestrationstatus(Status.ORCHESTRATION_STATUS_FAILED);
        unsupported.setFailuredetails(failureDetails('UnsupportedAction', `the orchestrator returned action ${id} of a kind this sidecar does not support`, { nonRetriable: true }));
        plan.completion = unsupported;
      }
    }
    return plan;
  }

  /**
   * Saves an orchestrator step. Most steps (activities, timers, events, finishing a top-level
   * instance) are one statement; child workflows, a child's end and continue-as-new need reads
   * and locks of other rows, so they run as a transaction.
   */
  async #saveStep(instanceId: string, sent: NonNullable<OrchestrationLease['sent']>, actions: OrchestratorAction[], customStatus: string | undefined): Promise<{ effects: StepEffects; events: Buffer[] }> {
    const plan = this.#planStep(sent.instance, sent, actions);
    // The new events are stored as the worker received them; only the step's own are encoded here.
    const encoded = [...sent.newEncoded, ...plan.additions.slice(sent.newEvents.length).map(history.encode)];
    const completionStatus = plan.completion?.getOrchestrationstatus();
    const needsTransaction =
      plan.children.length > 0 || completionStatus === Status.ORCHESTRATION_STATUS_CONTINUED_AS_NEW || (completionStatus !== undefined && sent.instance.parentInstanceId !== null);
    if (needsTransaction) return this.#store.transaction((tx) => this.#applyStep(tx, instanceId, sent, plan, encoded, customStatus));

    const { effects } = plan;
    const failure = plan.completion?.getFailuredetails();
    const finishing = plan.completion !== undefined && completionStatus !== undefined;
    const activityIds = await this.#store.commitStep({
      instanceId,
      executionId: sent.instance.executionId,
      inboxIds: sent.inboxIds,
      historyFrom: sent.past.length,
      history: encoded,
      activities: finishing ? [] : plan.activities,
      inbox: finishing ? plan.inbox.filter((row) => row.instanceId !== instanceId) : plan.inbox,
      status: finishing ? completionStatus : plan.status,
      customStatus,
      ...(finishing ? { finish: { output: valueOf(plan.completion?.getResult()) ?? null, failure: failure ? Buffer.from(failure.serializeBinary()) : null } } : {}),
    });
    if (!activityIds) throw new WorkflowError('FAILED_PRECONDITION', `instance ${instanceId} changed while its work item was in progress (it finished, or was started again)`);
    if (finishing) {
      this.#finished(sent.instance, completionStatus, failure, effects);
    } else {
      effects.activities.push(...plan.activities.map((row) => ({ ...row, id: activityIds.get(row.taskId) ?? '' })));
      if (plan.status !== sent.instance.status) notifyOf(effects, instanceId, plan.status);
    }
    return { effects, events: [...sent.past, ...encoded] };
  }

  /** A step that needs a transaction (child workflows, a child's end, continue-as-new). */
  async #applyStep(tx: StoreTransaction, instanceId: string, sent: NonNullable<OrchestrationLease['sent']>, plan: StepPlan, encoded: Buffer[], customStatus: string | undefined) {
    const { effects, inbox, activities, completion, status } = plan;
    const instance = await tx.lockInstance(instanceId);
    if (!instance || instance.executionId !== sent.instance.executionId || isTerminal(instance.status)) {
      throw new WorkflowError('FAILED_PRECONDITION', `instance ${instanceId} changed while its work item was in progress (it finished, or was started again)`);
    }
    for (const child of plan.children) await this.#createChild(tx, instance, child.taskId, child.childId, child.name, child.input, inbox, effects);
    await tx.deleteInbox(sent.inboxIds);
    const completionStatus = completion?.getOrchestrationstatus();
    if (completion && completionStatus === Status.ORCHESTRATION_STATUS_CONTINUED_AS_NEW) {
      await this.#continueAsNew(tx, instance, completion, customStatus, effects);
      await tx.addInbox(inbox.filter((row) => row.instanceId !== instanceId));
      return { effects, events: [] };
    }
    const events = [...sent.past, ...encoded];
    await tx.appendHistory(instanceId, sent.past.length, encoded);
    if (completion && completionStatus !== undefined) {
      const result = valueOf(completion.getResult());
      const failure = completion.getFailuredetails();
      await this.#finish(tx, instance, completionStatus, result, failure, customStatus, effects);
      await tx.addInbox(inbox.filter((row) => row.instanceId !== instanceId));
      return { effects, events };
    }
    const ids = await tx.addActivities(activities);
    effects.activities.push(...activities.map((row, index) => ({ ...row, id: ids[index] ?? '' })));
    await tx.addInbox(inbox);
    await tx.updateInstance(instanceId, { status, ...(customStatus === undefined ? {} : { customStatus }) });
    if (status !== instance.status) notifyOf(effects, instanceId, status);
    return { effects, events };
  }

  async #createChild(tx: StoreTransaction, parent: InstanceRow, taskId: number, childId: string, name: string, input: string | undefined, inbox: NewInbox[], effects: StepEffects): Promise<void> {
    try {
      validateInstanceId(childId);
      await tx.createInstance(
        { instanceId: childId, name, input, scheduledStartAt: undefined, parentInstanceId: parent.instanceId, parentTaskId: taskId, traceParent: parent.traceParent ?? undefined, traceState: parent.traceState ?? undefined },
        (executionId) =>
          history.encode(history.executionStarted({ name, instanceId: childId, executionId, input, parent: { instanceId: parent.instanceId, executionId: parent.executionId, name: parent.name, taskScheduledId: taskId } })),
      );
      effects.ready.add(childId);
      effects.started.push(name);
    } catch (error) {
      if (!(error instanceof InstanceExistsError || error instanceof WorkflowError)) throw error;
      const failure = failureDetails(error instanceof InstanceExistsError ? 'InstanceExists' : 'InvalidInstanceId', error.message, { nonRetriable: true });
      inbox.push({ instanceId: parent.instanceId, kind: 'subOrchestrationFailed', event: history.encode(history.subOrchestrationFailed(taskId, failure)) });
      effects.ready.add(parent.instanceId);
    }
  }

  async #continueAsNew(tx: StoreTransaction, instance: InstanceRow, completion: InstanceType<typeof pb.CompleteOrchestrationAction>, customStatus: string | undefined, effects: StepEffects): Promise<void> {
    const executionId = randomUUID();
    const input = valueOf(completion.getResult());
    await tx.clearHistory(instance.instanceId);
    // Raised events not yet seen carry over to the new execution; results and timers of the old one do not.
    await tx.dropPendingWork(instance.instanceId, true);
    const parent =
      instance.parentInstanceId !== null && instance.parentTaskId !== null ? { instanceId: instance.parentInstanceId, executionId: '', name: '', taskScheduledId: instance.parentTaskId } : undefined;
    const started = history.executionStarted({ name: instance.name, instanceId: instance.instanceId, executionId, input, parent });
    const carryover = completion.getCarryovereventsList().map((event): NewInbox => ({ instanceId: instance.instanceId, kind: 'eventRaised', event: history.encode(event) }));
    await tx.addInbox([{ instanceId: instance.instanceId, kind: 'executionStarted', event: history.encode(started) }, ...carryover]);
    await tx.updateInstance(instance.instanceId, { status: Status.ORCHESTRATION_STATUS_RUNNING, executionId, input: input ?? null, output: null, failure: null, ...(customStatus === undefined ? {} : { customStatus }) });
    // Task ids start again at 0: a lease of the old execution would shadow the new one's activity.
    effects.dropped.set(instance.instanceId, 'all');
    effects.ready.add(instance.instanceId);
    notifyOf(effects, instance.instanceId, undefined);
  }

  /** Puts an instance in a final status, drops its pending work and tells its parent. */
  async #finish(
    tx: StoreTransaction,
    instance: InstanceRow,
    status: OrchestrationStatus,
    output: string | undefined,
    failure: InstanceType<typeof pb.TaskFailureDetails> | undefined,
    customStatus: string | undefined,
    effects: StepEffects,
  ): Promise<void> {
    await tx.updateInstance(instance.instanceId, {
      status,
      output: output ?? null,
      failure: failure ? Buffer.from(failure.serializeBinary()) : null,
      ...(customStatus === undefined ? {} : { customStatus }),
    });
    await tx.dropPendingWork(instance.instanceId, false);
    if (instance.parentInstanceId !== null && instance.parentTaskId !== null) {
      const parent = await tx.lockInstance(instance.parentInstanceId);
      if (parent && !isTerminal(parent.status)) {
        const event =
          status === Status.ORCHESTRATION_STATUS_COMPLETED
            ? history.subOrchestrationCompleted(instance.parentTaskId, output)
            : history.subOrchestrationFailed(instance.parentTaskId, failure ?? failureDetails('WorkflowTerminated', `child workflow ${instance.instanceId} ended with status ${statusName(status)}`));
        await tx.addInbox([{ instanceId: parent.instanceId, kind: 'subOrchestration', event: history.encode(event) }]);
        effects.ready.add(parent.instanceId);
      }
    }
    this.#finished(instance, status, failure, effects);
  }

  /** The in-memory side of an instance's end, applied with the effects once the step is saved. */
  #finished(instance: InstanceRow, status: OrchestrationStatus, failure: TaskFailureDetails | undefined, effects: StepEffects): void {
    if (!effects.dropped.has(instance.instanceId)) effects.dropped.set(instance.instanceId, 'queued');
    notifyOf(effects, instance.instanceId, status);
    effects.finished.push({ instance, status, error: failure?.getErrormessage() });
  }

  #applyEffects(effects: StepEffects): void {
    for (const [instanceId, what] of effects.dropped) {
      this.#activityQueue = this.#activityQueue.filter((row) => row.instanceId !== instanceId);
      if (what === 'queued') continue;
      for (const [key, lease] of this.#activities) {
        if (lease.row.instanceId !== instanceId) continue;
        this.#activities.delete(key);
        lease.worker.outstanding -= 1;
      }
    }
    for (const name of effects.started) workflowTelemetry.started(this.#appId, name);
    for (const { instance, status, error } of effects.finished) {
      workflowTelemetry.finished(this.#appId, instance.name, statusName(status), instance, instance.createdAt, instance.instanceId, error);
      this.#history.delete(instance.instanceId);
      this.#traces.delete(instance.instanceId);
      this.#voidPrefetch(instance.instanceId);
    }
    this.#activityQueue.push(...effects.activities);
    for (const at of effects.wakeAt) {
      if (at.getTime() <= Date.now()) this.#wakeAtTime(new Date());
      else this.#wakeAtTime(at);
    }
    for (const instanceId of effects.ready) this.#markReady(instanceId);
    for (const [instanceId, status] of effects.notify) this.#changes.emit(instanceId, status);
    this.#schedulePump();
  }

  // ---- the client API ------------------------------------------------------------------------

  async startInstance(options: StartOptions): Promise<string> {
    const instanceId = options.instanceId || randomUUID();
    validateInstanceId(instanceId);
    if (!options.name) throw new WorkflowError('INVALID_ARGUMENT', 'a workflow name is required');
    const scheduledStartAt = options.scheduledStartAt && options.scheduledStartAt.getTime() > Date.now() ? options.scheduledStartAt : undefined;
    const instance = {
      instanceId,
      name: options.name,
      input: options.input,
      scheduledStartAt,
      parentInstanceId: undefined,
      parentTaskId: undefined,
      traceParent: options.traceParent,
      traceState: options.traceState,
    };
    const startedEvent = (executionId: string) => history.encode(history.executionStarted({ name: options.name, instanceId, executionId, input: options.input, scheduledStartAt }));
    let prefetched: boolean;
    // The start's own statement reads the work of the first step (not for a start at a later time).
    const token = scheduledStartAt ? undefined : this.#beginPrefetch(instanceId);
    try {
      const executionId = randomUUID();
      // A new id is one statement; an id in use goes through the reuse rule in a transaction.
      const work = await this.#store.createNewInstance(instance, executionId, startedEvent(executionId));
      prefetched = this.#endPrefetch(instanceId, token, work);
      if (work) {
        // A new instance has no history yet: its first step need not read it (unless a sweep already dispatched it).
        if (!this.#running.has(instanceId) && this.#history.get(instanceId)?.executionId !== executionId) this.#cacheHistory(instanceId, executionId, []);
      } else {
        this.#history.delete(instanceId);
        await this.#store.transaction((tx) => tx.createInstance(instance, startedEvent));
      }
    } catch (error) {
      this.#endPrefetch(instanceId, token, undefined);
      if (error instanceof InstanceExistsError) throw new WorkflowError('ALREADY_EXISTS', `workflow instance ${instanceId} already exists and is not finished; a running instance id cannot be started twice`);
      throw error;
    }
    workflowTelemetry.started(this.#appId, options.name);
    if (scheduledStartAt) this.#wakeAtTime(scheduledStartAt);
    else this.#markReady(instanceId, prefetched);
    this.#changes.emit(instanceId);
    return instanceId;
  }

  getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    return this.#store.getInstance(instanceId);
  }

  /** Resolves with the instance once `reached` holds (undefined if it does not exist); rejects when `signal` aborts. */
  async waitForInstance(instanceId: string, reached: (instance: InstanceRow) => boolean, signal: AbortSignal): Promise<InstanceRow | undefined> {
    // Changes announced since the last read: the latest status, or 'read' when one did not say.
    let change: OrchestrationStatus | 'read' | undefined;
    let wake: (() => void) | undefined;
    const listener = (status?: OrchestrationStatus) => {
      change = change === 'read' || status === undefined ? 'read' : status;
      wake?.();
    };
    this.#changes.on(instanceId, listener);
    try {
      let instance = await this.#store.getInstance(instanceId);
      for (;;) {
        if (!instance || reached(instance)) return instance;
        if (change === undefined) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              signal.removeEventListener('abort', done);
              wake = undefined;
              resolve();
            };
            const timer = setTimeout(done, SWEEP_INTERVAL_MS);
            wake = done;
            signal.addEventListener('abort', done, { once: true });
          });
        }
        signal.throwIfAborted();
        if (this.#stopped) throw new WorkflowError('UNAVAILABLE', 'the workflow engine is stopping');
        const seen = change;
        change = undefined;
        // A status that does not reach the goal needs no read: wait for the next change.
        if (seen !== undefined && seen !== 'read' && !reached({ ...instance, status: seen })) instance = { ...instance, status: seen };
        else instance = await this.#store.getInstance(instanceId);
      }
    } finally {
      this.#changes.off(instanceId, listener);
    }
  }

  async #requireActive(instanceId: string, what: string): Promise<InstanceRow> {
    const instance = await this.#store.getInstance(instanceId);
    if (!instance) throw new WorkflowError('NOT_FOUND', `no workflow instance with id ${instanceId}`);
    if (isTerminal(instance.status)) throw new WorkflowError('FAILED_PRECONDITION', `workflow instance ${instanceId} is ${statusName(instance.status)}; it cannot ${what}`);
    return instance;
  }

  async #deliver(instanceId: string, kind: string, event: HistoryEvent): Promise<void> {
    await this.#store.transaction((tx) => tx.addInbox([{ instanceId, kind, event: history.encode(event) }]));
    this.#markReady(instanceId);
  }

  async raiseEvent(instanceId: string, name: string, input: string | undefined): Promise<void> {
    if (!name) throw new WorkflowError('INVALID_ARGUMENT', 'an event name is required');
    await this.#requireActive(instanceId, 'receive events');
    await this.#deliver(instanceId, 'eventRaised', history.eventRaised(name, input));
  }

  async suspend(instanceId: string, reason: string | undefined): Promise<void> {
    const instance = await this.#requireActive(instanceId, 'be suspended');
    if (instance.status !== Status.ORCHESTRATION_STATUS_SUSPENDED) await this.#deliver(instanceId, 'executionSuspended', history.executionSuspended(reason));
  }

  async resume(instanceId: string, reason: string | undefined): Promise<void> {
    await this.#requireActive(instanceId, 'be resumed');
    await this.#deliver(instanceId, 'executionResumed', history.executionResumed(reason));
  }

  /** Terminates the instance (and, when recursive, its running child workflows); a finished instance is left as it is. */
  async terminate(instanceId: string, output: string | undefined, recursive: boolean): Promise<void> {
    const targets = recursive ? await this.#store.withDescendants(instanceId) : [await this.#store.getInstance(instanceId)].filter((row) => row !== undefined);
    if (targets.length === 0) throw new WorkflowError('NOT_FOUND', `no workflow instance with id ${instanceId}`);
    for (const target of targets) {
      if (isTerminal(target.status)) continue;
      const terminated = history.executionTerminated(output);
      if (target.status === Status.ORCHESTRATION_STATUS_PENDING && !this.#running.has(target.instanceId)) {
        // Never started: no orchestrator needs to see it.
        const effects = newEffects();
        await this.#store.transaction(async (tx) => {
          const locked = await tx.lockInstance(target.instanceId);
          if (locked?.status === Status.ORCHESTRATION_STATUS_PENDING) await this.#finish(tx, locked, Status.ORCHESTRATION_STATUS_TERMINATED, output, undefined, undefined, effects);
          else await tx.addInbox([{ instanceId: target.instanceId, kind: 'executionTerminated', event: history.encode(terminated) }]);
        });
        effects.ready.add(target.instanceId);
        this.#applyEffects(effects);
      } else {
        await this.#deliver(target.instanceId, 'executionTerminated', terminated);
      }
    }
  }

  /** Deletes finished instances (with their finished child workflows); answers how many. */
  async purge(target: { instanceId: string } | { filter: InstanceFilter }): Promise<number> {
    let ids: string[];
    if ('instanceId' in target) {
      const tree = await this.#store.withDescendants(target.instanceId);
      if (!tree[0] || !isTerminal(tree[0].status)) return 0;
      ids = tree.filter((row) => isTerminal(row.status)).map((row) => row.instanceId);
    } else {
      ids = await this.#store.finishedIds(target.filter);
    }
    await this.#store.transaction((tx) => tx.deleteInstances(ids));
    for (const id of ids) this.#history.delete(id);
    return ids.length;
  }

  /** A page of instances; the continuation token is the position after the page's last one. */
  async query(filter: InstanceFilter, pageSize: number, continuationToken: string | undefined): Promise<{ instances: InstanceRow[]; continuationToken: string | undefined }> {
    const limit = pageSize > 0 ? Math.min(pageSize, MAX_PAGE_SIZE) : 100;
    const page = await this.#store.query(filter, limit + 1, continuationToken ? parseContinuationToken(continuationToken) : undefined);
    const last = page.cursors[limit - 1];
    const more = page.instances.length > limit && last !== undefined;
    return { instances: page.instances.slice(0, limit), continuationToken: more ? Buffer.from(JSON.stringify([last.createdAtMicros, last.instanceId])).toString('base64url') : undefined };
  }
}
