import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { endPool, guardCheckedOutClients, poolConfig } from '../state/postgresql.ts';
import { toStatus, type OrchestrationStatus } from './proto.ts';

// The workflow engine's durable state, in the PostgreSQL database of the app's actor state store
// (the component with `actorStateStore: "true"`), in four tables shared by every app id:
//
//   dapr_workflow_instances   one row per instance: status, input/output, custom status, failure, parent
//   dapr_workflow_history     the committed history of the current execution, protobuf HistoryEvents in order
//   dapr_workflow_inbox       events not yet given to the orchestrator; timers are rows visible from fire time
//   dapr_workflow_activities  activities scheduled and not yet completed, as protobuf ActivityRequests
//
// Every change an orchestrator step makes (history, inbox, activities, children, status) is one
// transaction, so a crash at any point leaves either the step done or not begun.

export interface InstanceRow {
  instanceId: string;
  executionId: string;
  name: string;
  status: OrchestrationStatus;
  input: string | null;
  output: string | null;
  customStatus: string | null;
  /** A protobuf TaskFailureDetails. */
  failure: Buffer | null;
  createdAt: Date;
  updatedAt: Date;
  scheduledStartAt: Date | null;
  parentInstanceId: string | null;
  /** The parent's action id for this child (its SubOrchestrationInstanceCreated event id). */
  parentTaskId: number | null;
  traceParent: string | null;
  traceState: string | null;
}

export interface InboxRow {
  id: string;
  kind: string;
  event: Buffer;
}

export interface ActivityRow {
  id: string;
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  /** A protobuf ActivityRequest, sent as is. */
  request: Buffer;
}

export interface NewInbox {
  instanceId: string;
  kind: string;
  event: Buffer;
  /** When the event becomes visible to the orchestrator (timers); now by default. */
  visibleAt?: Date;
}

export interface NewInstance {
  instanceId: string;
  name: string;
  input: string | undefined;
  scheduledStartAt: Date | undefined;
  parentInstanceId: string | undefined;
  parentTaskId: number | undefined;
  traceParent: string | undefined;
  traceState: string | undefined;
}

/** An orchestrator step that touches only its own instance (and other instances' inboxes): one statement. */
export interface StepWrite {
  instanceId: string;
  executionId: string;
  /** The inbox rows the step consumed. */
  inboxIds: readonly string[];
  /** History events appended from position `historyFrom`. */
  historyFrom: number;
  history: readonly Buffer[];
  activities: readonly { taskId: number; name: string; request: Buffer }[];
  inbox: readonly NewInbox[];
  status: OrchestrationStatus;
  /** Undefined leaves the custom status as it is. */
  customStatus: string | undefined;
  /** Set when the step ends the instance: its output and failure; its pending inbox and activities are dropped. */
  finish?: { output: string | null; failure: Buffer | null };
}

/** A start of a new instance (WorkflowStore.createNewInstance). */
interface NewStart {
  instance: NewInstance;
  executionId: string;
  startedEvent: Buffer;
}

/** An activity's result to record (WorkflowStore.completeActivity). */
interface ActivityResult {
  activityRowId: string;
  instanceId: string;
  kind: string;
  event: Buffer;
  readWork: boolean;
}

/** A position in creation order: the instance's created_at (in microseconds since 1970) and id. */
export interface QueryCursor {
  createdAtMicros: string;
  instanceId: string;
}

export interface InstanceFilter {
  statuses?: readonly OrchestrationStatus[];
  createdFrom?: Date;
  createdTo?: Date;
  instanceIdPrefix?: string;
}

const TERMINAL_SQL = '(1, 3, 4, 5)'; // COMPLETED, FAILED, CANCELED, TERMINATED
const POOL_SIZE = 10;

interface InstanceRecord {
  instance_id: string;
  execution_id: string;
  name: string;
  status: number;
  input: string | null;
  output: string | null;
  custom_status: string | null;
  failure: Buffer | null;
  created_at: Date;
  updated_at: Date;
  scheduled_start_at: Date | null;
  parent_instance_id: string | null;
  parent_task_id: number | null;
  trace_parent: string | null;
  trace_state: string | null;
}

const toInstance = (row: InstanceRecord): InstanceRow => ({
  instanceId: row.instance_id,
  executionId: row.execution_id,
  name: row.name,
  status: toStatus(row.status),
  input: row.input,
  output: row.output,
  customStatus: row.custom_status,
  failure: row.failure,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  scheduledStartAt: row.scheduled_start_at,
  parentInstanceId: row.parent_instance_id,
  parentTaskId: row.parent_task_id,
  traceParent: row.trace_parent,
  traceState: row.trace_state,
});

/** An instance with the inbox events its next orchestrator step will see. */
export interface Work {
  instance: InstanceRow;
  inbox: InboxRow[];
}

type WorkRecord = InstanceRecord & { inbox_id: string | null; inbox_kind: string | null; inbox_event: Buffer | null };

/** Rows of an instance joined with its inbox events (none: one row with null inbox columns). */
function toWork(rows: readonly WorkRecord[]): Work | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const inbox = rows.flatMap((row) => (row.inbox_id === null || row.inbox_kind === null || row.inbox_event === null ? [] : [{ id: row.inbox_id, kind: row.inbox_kind, event: row.inbox_event }]));
  return { instance: toInstance(first), inbox };
}

export class InstanceExistsError extends Error {
  override name = 'InstanceExistsError';
}

/** Statements usable inside one transaction. */
export class StoreTransaction {
  readonly #client: pg.PoolClient;
  readonly #appId: string;

  constructor(client: pg.PoolClient, appId: string) {
    this.#client = client;
    this.#appId = appId;
  }

  async lockInstance(instanceId: string): Promise<InstanceRow | undefined> {
    const result = await this.#client.query<InstanceRecord>('SELECT * FROM dapr_workflow_instances WHERE app_id = $1 AND instance_id = $2 FOR UPDATE', [this.#appId, instanceId]);
    const row = result.rows[0];
    return row ? toInstance(row) : undefined;
  }

  /**
   * Creates an instance, replacing a finished one of the same id (Dapr's reuse rule); a
   * running, pending or suspended one is an InstanceExistsError. Returns the execution id.
   */
  async createInstance(instance: NewInstance, startedEvent: (executionId: string) => Buffer): Promise<string> {
    const existing = await this.lockInstance(instance.instanceId);
    if (existing && ![1, 3, 4, 5].includes(existing.status)) {
      throw new InstanceExistsError(`an instance with id ${instance.instanceId} already exists and is not finished`);
    }
    if (existing) await this.deleteInstances([instance.instanceId]);
    const executionId = randomUUID();
    await this.#client.query(
      `INSERT INTO dapr_workflow_instances (app_id, instance_id, execution_id, name, status, input, scheduled_start_at, parent_instance_id, parent_task_id, trace_parent, trace_state)
       VALUES ($1, $2, $3, $4, 6, $5, $6, $7, $8, $9, $10)`,
      [
        this.#appId,
        instance.instanceId,
        executionId,
        instance.name,
        instance.input ?? null,
        instance.scheduledStartAt ?? null,
        instance.parentInstanceId ?? null,
        instance.parentTaskId ?? null,
        instance.traceParent ?? null,
        instance.traceState ?? null,
      ],
    );
    await this.addInbox([{ instanceId: instance.instanceId, kind: 'executionStarted', event: startedEvent(executionId), ...(instance.scheduledStartAt ? { visibleAt: instance.scheduledStartAt } : {}) }]);
    return executionId;
  }

  async addInbox(rows: readonly NewInbox[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#client.query(
      `INSERT INTO dapr_workflow_inbox (app_id, instance_id, kind, event, visible_at)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[], $5::timestamptz[])`,
      [this.#appId, rows.map((row) => row.instanceId), rows.map((row) => row.kind), rows.map((row) => row.event), rows.map((row) => row.visibleAt ?? new Date())],
    );
  }

  async deleteInbox(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.#client.query('DELETE FROM dapr_workflow_inbox WHERE id = ANY($1::bigint[])', [ids]);
  }

  /** Drops an instance's pending inbox (all of it, or all but raised events) and activities. */
  async dropPendingWork(instanceId: string, keepRaisedEvents: boolean): Promise<void> {
    await this.#client.query(`DELETE FROM dapr_workflow_inbox WHERE app_id = $1 AND instance_id = $2${keepRaisedEvents ? " AND kind <> 'eventRaised'" : ''}`, [this.#appId, instanceId]);
    await this.#client.query('DELETE FROM dapr_workflow_activities WHERE app_id = $1 AND instance_id = $2', [this.#appId, instanceId]);
  }

  async appendHistory(instanceId: string, firstSeq: number, events: readonly Buffer[]): Promise<void> {
    if (events.length === 0) return;
    await this.#client.query(
      `INSERT INTO dapr_workflow_history (app_id, instance_id, seq, event) SELECT $1, $2, firstSeq + ord - 1, event FROM unnest($3::bytea[]) WITH ORDINALITY AS t(event, ord), (SELECT $4::int AS firstSeq) s`,
      [this.#appId, instanceId, events, firstSeq],
    );
  }

  async clearHistory(instanceId: string): Promise<void> {
    await this.#client.query('DELETE FROM dapr_workflow_history WHERE app_id = $1 AND instance_id = $2', [this.#appId, instanceId]);
  }

  /** Inserts activities; returns their row ids in order. */
  async addActivities(rows: readonly Omit<ActivityRow, 'id'>[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const result = await this.#client.query<{ id: string }>(
      `INSERT INTO dapr_workflow_activities (app_id, instance_id, execution_id, task_id, name, request)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::bytea[])
       ON CONFLICT (app_id, instance_id, task_id) DO UPDATE SET request = EXCLUDED.request
       RETURNING id::text`,
      [this.#appId, rows.map((row) => row.instanceId), rows.map((row) => row.executionId), rows.map((row) => row.taskId), rows.map((row) => row.name), rows.map((row) => row.request)],
    );
    return result.rows.map((row) => row.id);
  }

  /** Deletes a pending activity; false when it was already gone (completed before). */
  async deleteActivity(id: string): Promise<boolean> {
    const result = await this.#client.query('DELETE FROM dapr_workflow_activities WHERE id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  async updateInstance(
    instanceId: string,
    changes: { status?: OrchestrationStatus; output?: string | null; customStatus?: string | null; failure?: Buffer | null; executionId?: string; input?: string | null },
  ): Promise<void> {
    const columns: Record<string, unknown> = {
      status: changes.status,
      output: changes.output,
      custom_status: changes.customStatus,
      failure: changes.failure,
      execution_id: changes.executionId,
      input: changes.input,
    };
    const entries = Object.entries(columns).filter(([, value]) => value !== undefined);
    const sets = entries.map(([column], index) => `${column} = $${index + 3}`);
    await this.#client.query(`UPDATE dapr_workflow_instances SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE app_id = $1 AND instance_id = $2`, [
      this.#appId,
      instanceId,
      ...entries.map(([, value]) => value),
    ]);
  }

  async deleteInstances(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    for (const table of ['dapr_workflow_history', 'dapr_workflow_inbox', 'dapr_workflow_activities', 'dapr_workflow_instances']) {
      await this.#client.query(`DELETE FROM ${table} WHERE app_id = $1 AND instance_id = ANY($2::text[])`, [this.#appId, instanceIds]);
    }
  }
}

/**
 * Group commit: what is submitted while a batch is being written goes together into the next
 * one, a single statement, so concurrent completions share one round trip and one commit. A batch
 * that fails is tried again item by item, so that one item's error is its own.
 */
class Batcher<I, O> {
  readonly #write: (items: readonly I[]) => Promise<O[]>;
  readonly #maxInFlight: number;
  readonly #maxBatch: number;
  #queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  #inFlight = 0;

  constructor(write: (items: readonly I[]) => Promise<O[]>, maxInFlight: number, maxBatch: number) {
    this.#write = write;
    this.#maxInFlight = maxInFlight;
    this.#maxBatch = maxBatch;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight += 1;
      void this.#run(batch).finally(() => {
        this.#inFlight -= 1;
        this.#flush();
      });
    }
  }

  async #run(batch: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[]): Promise<void> {
    try {
      const results = await this.#write(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index] as O));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      await Promise.all(batch.map((entry) => this.#write([entry.item]).then(([result]) => entry.resolve(result as O), entry.reject)));
    }
  }
}

export class WorkflowStore {
  readonly #pool: pg.Pool;
  readonly #appId: string;
  readonly #steps = new Batcher<StepWrite, Map<number, string> | undefined>((steps) => this.#commitSteps(steps), 2, 200);
  readonly #activityResults = new Batcher<ActivityResult, Work | undefined>((results) => this.#completeActivities(results), 2, 200);
  readonly #starts = new Batcher<NewStart, Work | undefined>((starts) => this.#createNewInstances(starts), 2, 200);
  readonly #instanceReads = new Batcher<string, InstanceRow | undefined>((ids) => this.#getInstances(ids), 2, 500);
  #closed = false;

  constructor(connectionString: string, appId: string, onConnectionError: (error: Error) => void) {
    this.#appId = appId;
    const config = poolConfig(connectionString);
    // Steps, activity results and dispatch reads of ~30 instances in flight; pool_max_conns in the connection string wins.
    this.#pool = new pg.Pool({ max: POOL_SIZE, connectionTimeoutMillis: 5_000, ...config });
    this.#pool.on('error', (error) => {
      if (!this.#closed) onConnectionError(error);
    });
    guardCheckedOutClients(this.#pool, (error) => {
      if (!this.#closed) onConnectionError(error);
    });
  }

  async init(): Promise<void> {
    await this.transaction(async (_tx, client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('dapr-workflow-schema'))");
      await client.query(`
        CREATE TABLE IF NOT EXISTS dapr_workflow_instances (
          app_id text NOT NULL,
          instance_id text NOT NULL,
          execution_id text NOT NULL,
          name text NOT NULL,
          status smallint NOT NULL,
          input text,
          output text,
          custom_status text,
          failure bytea,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          scheduled_start_at timestamptz,
          parent_instance_id text,
          parent_task_id integer,
          trace_parent text,
          trace_state text,
          PRIMARY KEY (app_id, instance_id)
        );
        CREATE INDEX IF NOT EXISTS dapr_workflow_instances_created_idx ON dapr_workflow_instances (app_id, created_at, instance_id);
        CREATE INDEX IF NOT EXISTS dapr_workflow_instances_parent_idx ON dapr_workflow_instances (app_id, parent_instance_id) WHERE parent_instance_id IS NOT NULL;
        CREATE TABLE IF NOT EXISTS dapr_workflow_history (
          app_id text NOT NULL,
          instance_id text NOT NULL,
          seq integer NOT NULL,
          event bytea NOT NULL,
          PRIMARY KEY (app_id, instance_id, seq)
        );
        CREATE TABLE IF NOT EXISTS dapr_workflow_inbox (
          id bigserial PRIMARY KEY,
          app_id text NOT NULL,
          instance_id text NOT NULL,
          kind text NOT NULL,
          event bytea NOT NULL,
          visible_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS dapr_workflow_inbox_instance_idx ON dapr_workflow_inbox (app_id, instance_id, id);
        CREATE INDEX IF NOT EXISTS dapr_workflow_inbox_visible_idx ON dapr_workflow_inbox (app_id, visible_at);
        CREATE TABLE IF NOT EXISTS dapr_workflow_activities (
          id bigserial PRIMARY KEY,
          app_id text NOT NULL,
          instance_id text NOT NULL,
          execution_id text NOT NULL,
          task_id integer NOT NULL,
          name text NOT NULL,
          request bytea NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (app_id, instance_id, task_id)
        );`);
    });
  }

  /** A named statement: parsed and planned once per connection, as the statements of every step are. */
  #prepared<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>({ name, text, values });
  }

  async transaction<T>(work: (tx: StoreTransaction, client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    // A connection whose ROLLBACK failed is in no known state: the pool discards it.
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work(new StoreTransaction(client, this.#appId), client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = await client.query('ROLLBACK').then(
        () => false,
        () => true,
      );
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Creates an instance whose id is not taken, with its ExecutionStarted inbox event, and answers
   * both; undefined when the id exists (then createInstance in a transaction applies the reuse
   * rule). Starts at the same time share one statement.
   */
  createNewInstance(instance: NewInstance, executionId: string, startedEvent: Buffer): Promise<Work | undefined> {
    return this.#starts.submit({ instance, executionId, startedEvent });
  }

  async #createNewInstances(starts: readonly NewStart[]): Promise<(Work | undefined)[]> {
    // A second start of an id in the same batch is answered undefined once the first is committed.
    const firsts = starts.filter((start, index) => starts.findIndex((other) => other.instance.instanceId === start.instance.instanceId) === index);
    const column = <T>(pick: (start: NewStart) => T) => firsts.map(pick);
    const result = await this.#prepared<WorkRecord>(
      'dapr-workflow-create-many',
      `WITH input AS (
         SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::int[], $9::text[], $10::text[], $11::bytea[])
           WITH ORDINALITY AS t(instance_id, execution_id, name, input, scheduled_start_at, parent_instance_id, parent_task_id, trace_parent, trace_state, event, ord)
       ), created AS (
         INSERT INTO dapr_workflow_instances (app_id, instance_id, execution_id, name, status, input, scheduled_start_at, parent_instance_id, parent_task_id, trace_parent, trace_state)
         SELECT $1, instance_id, execution_id, name, 6, input, scheduled_start_at, parent_instance_id, parent_task_id, trace_parent, trace_state FROM input ORDER BY ord
         ON CONFLICT (app_id, instance_id) DO NOTHING
         RETURNING *
       ), added AS (
         INSERT INTO dapr_workflow_inbox (app_id, instance_id, kind, event, visible_at)
         SELECT $1, c.instance_id, 'executionStarted', i.event, COALESCE(i.scheduled_start_at, now()) FROM created c JOIN input i ON i.instance_id = c.instance_id ORDER BY i.ord
         RETURNING id, instance_id, kind, event
       )
       SELECT c.*, a.id::text AS inbox_id, a.kind AS inbox_kind, a.event AS inbox_event FROM created c JOIN added a ON a.instance_id = c.instance_id`,
      [
        this.#appId,
        column((start) => start.instance.instanceId),
        column((start) => start.executionId),
        column((start) => start.instance.name),
        column((start) => start.instance.input ?? null),
        column((start) => start.instance.scheduledStartAt ?? null),
        column((start) => start.instance.parentInstanceId ?? null),
        column((start) => start.instance.parentTaskId ?? null),
        column((start) => start.instance.traceParent ?? null),
        column((start) => start.instance.traceState ?? null),
        column((start) => start.startedEvent),
      ],
    );
    const created = new Map(result.rows.map((row) => [row.instance_id, row]));
    return starts.map((start) => {
      const row = firsts.includes(start) ? created.get(start.instance.instanceId) : undefined;
      return row ? toWork([row]) : undefined;
    });
  }

  /** The instance with its inbox events visible now, oldest first, in one round trip. */
  async loadWork(instanceId: string): Promise<{ instance: InstanceRow | undefined; inbox: InboxRow[] }> {
    const result = await this.#prepared<WorkRecord>(
      'dapr-workflow-load-work',
      `SELECT i.*, b.id::text AS inbox_id, b.kind AS inbox_kind, b.event AS inbox_event
       FROM dapr_workflow_instances i
       LEFT JOIN LATERAL (SELECT id, kind, event FROM dapr_workflow_inbox WHERE app_id = i.app_id AND instance_id = i.instance_id AND visible_at <= now()) b ON true
       WHERE i.app_id = $1 AND i.instance_id = $2
       ORDER BY b.id`,
      [this.#appId, instanceId],
    );
    return toWork(result.rows) ?? { instance: undefined, inbox: [] };
  }

  /** Deletes inbox events addressed to an instance that does not exist (an event sent to an unknown id). */
  async deleteOrphanInbox(instanceId: string): Promise<void> {
    await this.#pool.query(
      'DELETE FROM dapr_workflow_inbox b WHERE app_id = $1 AND instance_id = $2 AND NOT EXISTS (SELECT FROM dapr_workflow_instances i WHERE i.app_id = b.app_id AND i.instance_id = b.instance_id)',
      [this.#appId, instanceId],
    );
  }

  /**
   * Applies an orchestrator step, if the instance still runs the same execution; answers the new
   * activities' row ids by task id, or undefined when it does not. Steps saved at the same time
   * share one statement (atomic by itself), each guarded on its own.
   */
  commitStep(step: StepWrite): Promise<Map<number, string> | undefined> {
    return this.#steps.submit(step);
  }

  async #commitSteps(steps: readonly StepWrite[]): Promise<(Map<number, string> | undefined)[]> {
    // Per-step values by step number (1-based); history, consumed inbox, activities and new inbox flattened with their step number.
    const flat = <T, R>(pick: (step: StepWrite) => readonly T[], map: (row: T, step: StepWrite, index: number) => R): { steps: number[]; rows: R[] } => {
      const numbers: number[] = [];
      const rows: R[] = [];
      steps.forEach((step, index) =>
        pick(step).forEach((row, rowIndex) => {
          numbers.push(index + 1);
          rows.push(map(row, step, rowIndex));
        }),
      );
      return { steps: numbers, rows };
    };
    const consumed = flat((step) => step.inboxIds, (id) => id);
    const appended = flat((step) => step.history, (event, step, index) => ({ seq: step.historyFrom + index, event }));
    const scheduled = flat((step) => step.activities, (row) => row);
    const delivered = flat((step) => step.inbox, (row) => row);
    const result = await this.#prepared<{ applied: number[] | null; activities: [string, number, number][] | null }>(
      'dapr-workflow-commit-steps',
      `WITH steps AS (
         SELECT * FROM unnest($2::text[], $3::text[], $4::boolean[], $5::smallint[], $6::boolean[], $7::text[], $8::text[], $9::bytea[])
           WITH ORDINALITY AS s(instance_id, execution_id, finishing, status, has_custom_status, custom_status, output, failure, step)
       ), target AS (
         SELECT s.* FROM dapr_workflow_instances i JOIN steps s ON i.instance_id = s.instance_id AND i.execution_id = s.execution_id
         WHERE i.app_id = $1 AND i.instance_id = ANY($2::text[]) AND i.status NOT IN ${TERMINAL_SQL}
         FOR UPDATE OF i
       ), consumed AS (
         DELETE FROM dapr_workflow_inbox
         WHERE id = ANY($11::bigint[]) AND id IN (SELECT c.id FROM unnest($10::int[], $11::bigint[]) AS c(step, id) JOIN target t ON t.step = c.step AND NOT t.finishing)
       ), cleared AS (
         DELETE FROM dapr_workflow_inbox WHERE app_id = $1 AND instance_id = ANY($2::text[]) AND instance_id IN (SELECT instance_id FROM target WHERE finishing)
       ), dropped AS (
         DELETE FROM dapr_workflow_activities WHERE app_id = $1 AND instance_id = ANY($2::text[]) AND instance_id IN (SELECT instance_id FROM target WHERE finishing)
       ), appended AS (
         INSERT INTO dapr_workflow_history (app_id, instance_id, seq, event)
         SELECT $1, t.instance_id, h.seq, h.event FROM unnest($12::int[], $13::int[], $14::bytea[]) AS h(step, seq, event) JOIN target t ON t.step = h.step
       ), scheduled AS (
         INSERT INTO dapr_workflow_activities (app_id, instance_id, execution_id, task_id, name, request)
         SELECT $1, t.instance_id, t.execution_id, a.task_id, a.name, a.request FROM unnest($15::int[], $16::int[], $17::text[], $18::bytea[]) AS a(step, task_id, name, request) JOIN target t ON t.step = a.step
         ON CONFLICT (app_id, instance_id, task_id) DO UPDATE SET request = EXCLUDED.request
         RETURNING id::text, instance_id, task_id
       ), delivered AS (
         INSERT INTO dapr_workflow_inbox (app_id, instance_id, kind, event, visible_at)
         SELECT $1, d.instance_id, d.kind, d.event, COALESCE(d.visible_at, now())
         FROM unnest($19::int[], $20::text[], $21::text[], $22::bytea[], $23::timestamptz[]) WITH ORDINALITY AS d(step, instance_id, kind, event, visible_at, ord) JOIN target t ON t.step = d.step
         ORDER BY d.ord
       ), updated AS (
         UPDATE dapr_workflow_instances i SET
           status = t.status,
           custom_status = CASE WHEN t.has_custom_status THEN t.custom_status ELSE i.custom_status END,
           output = CASE WHEN t.finishing THEN t.output ELSE i.output END,
           failure = CASE WHEN t.finishing THEN t.failure ELSE i.failure END,
           updated_at = now()
         FROM target t WHERE i.app_id = $1 AND i.instance_id = ANY($2::text[]) AND i.instance_id = t.instance_id
       )
       SELECT (SELECT array_agg(step::int) FROM target) AS applied,
         (SELECT json_agg(json_build_array(s.id, t.step, s.task_id)) FROM scheduled s JOIN target t ON t.instance_id = s.instance_id) AS activities`,
      [
        this.#appId,
        steps.map((step) => step.instanceId),
        steps.map((step) => step.executionId),
        steps.map((step) => step.finish !== undefined),
        steps.map((step) => step.status),
        steps.map((step) => step.customStatus !== undefined),
        steps.map((step) => step.customStatus ?? null),
        steps.map((step) => step.finish?.output ?? null),
        steps.map((step) => step.finish?.failure ?? null),
        consumed.steps,
        consumed.rows,
        appended.steps,
        appended.rows.map((row) => row.seq),
        appended.rows.map((row) => row.event),
        scheduled.steps,
        scheduled.rows.map((row) => row.taskId),
        scheduled.rows.map((row) => row.name),
        scheduled.rows.map((row) => row.request),
        delivered.steps,
        delivered.rows.map((row) => row.instanceId),
        delivered.rows.map((row) => row.kind),
        delivered.rows.map((row) => row.event),
        delivered.rows.map((row) => row.visibleAt ?? null),
      ],
    );
    const row = result.rows[0];
    const applied = new Set(row?.applied ?? []);
    const ids = steps.map((_step, index) => (applied.has(index + 1) ? new Map<number, string>() : undefined));
    for (const [id, step, taskId] of row?.activities ?? []) ids[step - 1]?.set(taskId, id);
    return ids;
  }

  /**
   * Records an activity's result in its instance's inbox, unless the activity is no longer pending.
   * With `readWork`, answers the instance and its visible inbox (undefined when nothing was
   * recorded), which saves the dispatch that follows a read. Results saved at the same time share
   * one statement.
   */
  completeActivity(activity: Pick<ActivityRow, 'id' | 'instanceId'>, kind: string, event: Buffer, readWork: boolean): Promise<Work | undefined> {
    return this.#activityResults.submit({ activityRowId: activity.id, instanceId: activity.instanceId, kind, event, readWork });
  }

  async #completeActivities(results: readonly ActivityResult[]): Promise<(Work | undefined)[]> {
    const result = await this.#prepared<WorkRecord & { activity_id: string }>(
      'dapr-workflow-complete-activities',
      `WITH results AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::boolean[]) WITH ORDINALITY AS r(id, kind, event, read_work, ord)
       ), done AS (
         DELETE FROM dapr_workflow_activities a USING results r WHERE a.id = ANY($1::bigint[]) AND a.id = r.id
         RETURNING a.app_id, a.instance_id, r.id AS activity_id, r.kind, r.event, r.read_work, r.ord
       ), added AS (
         INSERT INTO dapr_workflow_inbox (app_id, instance_id, kind, event) SELECT app_id, instance_id, kind, event FROM done ORDER BY ord
         RETURNING id, app_id, instance_id, kind, event
       )
       SELECT d.activity_id::text AS activity_id, i.*, b.id::text AS inbox_id, b.kind AS inbox_kind, b.event AS inbox_event
       FROM done d
       JOIN dapr_workflow_instances i ON i.app_id = d.app_id AND i.instance_id = d.instance_id AND i.app_id = $5 AND i.instance_id = ANY($6::text[])
       CROSS JOIN LATERAL (
         SELECT id, kind, event FROM dapr_workflow_inbox WHERE app_id = i.app_id AND instance_id = i.instance_id AND visible_at <= now()
         UNION ALL
         SELECT id, kind, event FROM added WHERE added.app_id = i.app_id AND added.instance_id = i.instance_id
       ) b
       WHERE d.read_work
       ORDER BY d.activity_id, b.id`,
      [
        results.map((row) => row.activityRowId),
        results.map((row) => row.kind),
        results.map((row) => row.event),
        results.map((row) => row.readWork),
        this.#appId,
        [...new Set(results.filter((row) => row.readWork).map((row) => row.instanceId))],
      ],
    );
    const byActivity = new Map<string, WorkRecord[]>();
    for (const row of result.rows) {
      const rows = byActivity.get(row.activity_id);
      if (rows) rows.push(row);
      else byActivity.set(row.activity_id, [row]);
    }
    return results.map((row) => (row.readWork ? toWork(byActivity.get(row.activityRowId) ?? []) : undefined));
  }

  /** Reads requested at the same time share one statement. */
  getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    return this.#instanceReads.submit(instanceId);
  }

  async #getInstances(instanceIds: readonly string[]): Promise<(InstanceRow | undefined)[]> {
    const result = await this.#prepared<InstanceRecord>('dapr-workflow-get-instances', 'SELECT * FROM dapr_workflow_instances WHERE app_id = $1 AND instance_id = ANY($2::text[])', [
      this.#appId,
      [...new Set(instanceIds)],
    ]);
    const byId = new Map(result.rows.map((row) => [row.instance_id, toInstance(row)]));
    return instanceIds.map((instanceId) => byId.get(instanceId));
  }

  async loadHistory(instanceId: string): Promise<Buffer[]> {
    const result = await this.#pool.query<{ event: Buffer }>('SELECT event FROM dapr_workflow_history WHERE app_id = $1 AND instance_id = $2 ORDER BY seq', [this.#appId, instanceId]);
    return result.rows.map((row) => row.event);
  }

  /** The instance's inbox events visible now, oldest first. */
  async loadInbox(instanceId: string): Promise<InboxRow[]> {
    const result = await this.#pool.query<{ id: string; kind: string; event: Buffer }>(
      'SELECT id::text AS id, kind, event FROM dapr_workflow_inbox WHERE app_id = $1 AND instance_id = $2 AND visible_at <= now() ORDER BY id',
      [this.#appId, instanceId],
    );
    return result.rows;
  }

  /** Instances with inbox events visible now. */
  async instancesWithDueInbox(): Promise<string[]> {
    const result = await this.#pool.query<{ instance_id: string }>('SELECT DISTINCT instance_id FROM dapr_workflow_inbox WHERE app_id = $1 AND visible_at <= now()', [this.#appId]);
    return result.rows.map((row) => row.instance_id);
  }

  /** When the next inbox event not yet visible becomes visible. */
  async nextInboxVisibleAt(): Promise<Date | undefined> {
    const result = await this.#pool.query<{ at: Date | null }>('SELECT min(visible_at) AS at FROM dapr_workflow_inbox WHERE app_id = $1 AND visible_at > now()', [this.#appId]);
    return result.rows[0]?.at ?? undefined;
  }

  async pendingActivities(): Promise<ActivityRow[]> {
    const result = await this.#pool.query<{ id: string; instance_id: string; execution_id: string; task_id: number; name: string; request: Buffer }>(
      'SELECT id::text AS id, instance_id, execution_id, task_id, name, request FROM dapr_workflow_activities WHERE app_id = $1 ORDER BY id',
      [this.#appId],
    );
    return result.rows.map((row) => ({ id: row.id, instanceId: row.instance_id, executionId: row.execution_id, taskId: row.task_id, name: row.name, request: row.request }));
  }

  /** The instance and its descendants (child workflows, recursively), parents first. */
  async withDescendants(instanceId: string): Promise<InstanceRow[]> {
    const result = await this.#pool.query<InstanceRecord>(
      `WITH RECURSIVE tree AS (
         SELECT *, 0 AS depth FROM dapr_workflow_instances WHERE app_id = $1 AND instance_id = $2
         UNION ALL
         SELECT i.*, tree.depth + 1 FROM dapr_workflow_instances i JOIN tree ON i.app_id = tree.app_id AND i.parent_instance_id = tree.instance_id
       ) SELECT * FROM tree ORDER BY depth`,
      [this.#appId, instanceId],
    );
    return result.rows.map(toInstance);
  }

  /**
   * A page of instances in creation order, after the position `after` (a cursor of an earlier
   * page): keyset paging, so instances created, finished or purged meanwhile shift nothing.
   */
  async query(filter: InstanceFilter, limit: number, after: QueryCursor | undefined): Promise<{ instances: InstanceRow[]; cursors: QueryCursor[] }> {
    const { where, values } = this.#where(filter);
    let clause = where;
    if (after) {
      values.push(after.createdAtMicros, after.instanceId);
      clause += ` AND (created_at, instance_id) > (timestamptz 'epoch' + $${values.length - 1}::bigint * interval '1 microsecond', $${values.length}::text)`;
    }
    const result = await this.#pool.query<InstanceRecord & { created_at_micros: string }>(
      `SELECT *, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_at_micros FROM dapr_workflow_instances WHERE ${clause} ORDER BY created_at, instance_id LIMIT $${values.length + 1}`,
      [...values, limit],
    );
    return { instances: result.rows.map(toInstance), cursors: result.rows.map((row) => ({ createdAtMicros: row.created_at_micros, instanceId: row.instance_id })) };
  }

  /** Ids of the finished instances matching the filter (purge candidates). */
  async finishedIds(filter: InstanceFilter): Promise<string[]> {
    const { where, values } = this.#where(filter);
    const result = await this.#pool.query<{ instance_id: string }>(`SELECT instance_id FROM dapr_workflow_instances WHERE ${where} AND status IN ${TERMINAL_SQL}`, values);
    return result.rows.map((row) => row.instance_id);
  }

  #where(filter: InstanceFilter): { where: string; values: unknown[] } {
    const values: unknown[] = [this.#appId];
    const clauses = ['app_id = $1'];
    const add = (sql: (placeholder: string) => string, value: unknown) => {
      values.push(value);
      clauses.push(sql(`$${values.length}`));
    };
    if (filter.statuses && filter.statuses.length > 0) add((p) => `status = ANY(${p}::smallint[])`, filter.statuses);
    if (filter.createdFrom) add((p) => `created_at >= ${p}`, filter.createdFrom);
    if (filter.createdTo) add((p) => `created_at < ${p}`, filter.createdTo);
    if (filter.instanceIdPrefix) add((p) => `starts_with(instance_id, ${p})`, filter.instanceIdPrefix);
    return { where: clauses.join(' AND '), values };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await endPool(this.#pool);
  }
}
