import { CommunicationProtocolEnum, DaprClient, LogLevel, type LoggerService } from '@dapr/dapr';
import { ChangeSetType, LockMode, raw, type EntityManager, type EventSubscriber, type FlushEventArgs, type TransactionEventArgs } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { context } from '@opentelemetry/api';
import { ExponentialBackoff, TaskCancelledError, timeout, TimeoutStrategy, type IBackoff } from 'cockatiel';
import type { Logger } from '@agora/service';
import { contextFromTraceparent, counter, gauge } from '@agora/telemetry';
import { PUBSUB_NAME } from './catalog.ts';
import { CLOUDEVENT_CONTENT_TYPE, toCloudEvent } from './cloudevent.ts';
import { OutboxEvent, type OutboxEventEntity } from './outbox.ts';

// The outbox relay (docs/adr/0011-events-outbox.md): publishes committed outbox rows to Dapr
// pub/sub as CloudEvents and marks them sent. Delivery is at least once: a row is marked sent
// only after the sidecar accepted it, so a crash, a failed commit or a timed-out publish that did
// reach the broker sends it again; consumers deduplicate by event id.
//
// Rows a commit through the relay's ORM wrote are handed to the relay as they are (fresh rows):
// it publishes them and marks them sent in one statement, no claim needed, since no other relay
// looks at rows that young. Everything else (rows of a process that died before publishing them,
// rows written past the ORM, rows that failed) is swept: claimed with FOR UPDATE SKIP LOCKED
// inside a transaction that lasts while they are published, so relays of several instances never
// publish the same row at the same time. A poll sweeps rows older than `sweepAfterMs`; a start,
// notify() and the end of an outage sweep every unsent row.
// Failures:
// - sidecar unreachable (no answer, timeout): nothing is charged to the rows; the relay stops the
//   pass and tries again with exponential backoff.
// - sidecar answered with an error: the row backs off on its own (later rows go on) and the
//   failure is charged to it (publish_attempts + 1) when the broker demonstrably works, i.e. another
//   publish succeeded since the row last failed. A row charged `maxAttempts` times is poison: it is
//   logged and left unsent; `update outbox_events set publish_attempts = 0 where id = …` requeues it.

export interface OutboxRelayOptions {
  /** The service's ORM; its entities include OutboxEvent. */
  orm: MikroORM;
  /** The sidecar's HTTP port (DAPR_HTTP_PORT). */
  daprHttpPort: number | string;
  daprHost?: string;
  pubsubName?: string;
  /** The producing service, for logs. */
  service: string;
  logger: Logger;
  /** How often unsent rows are looked for besides right after a commit that wrote some; 1 s by default. */
  pollIntervalMs?: number;
  /**
   * How old an unsent row must be before a poll takes it: younger ones are the committing
   * process's to publish, so replicas do not publish each other's fresh rows; 5 s by default.
   */
  sweepAfterMs?: number;
  /** Rows claimed per transaction; 50 by default. */
  batchSize?: number;
  /** Charged failures after which a row is given up on; 10 by default. */
  maxAttempts?: number;
  /** How long one publish may take before it counts as the sidecar not answering; 5 s by default. */
  publishTimeoutMs?: number;
}

export interface OutboxRelay {
  /**
   * Publishes every unsent row now, however young. Rows a commit through the relay's ORM wrote
   * are published right after it without this; call it for rows written another way (raw SQL,
   * another connection).
   */
  notify(): void;
  /** Stops polling and waits for a pass under way; unsent rows stay for the next start. */
  stop(): Promise<void>;
}

const published = counter({ name: 'agora_outbox_published_total', help: 'Outbox events the sidecar accepted, by producer and topic', labelNames: ['producer', 'topic'] });
const publishFailures = counter({
  name: 'agora_outbox_publish_failures_total',
  help: 'Outbox publishes that failed, by producer and reason: rejected (the sidecar answered with an error) or unreachable',
  labelNames: ['producer', 'reason'],
});

interface OutboxLag {
  unsent: number;
  oldestAgeSeconds: number;
}

/** The running relays' lag queries, by producer; read when /metrics is scraped. */
const lagSources = new Map<string, () => Promise<OutboxLag>>();
/** One query per producer and scrape, shared by both gauges (prom-client collects them concurrently). */
let lagScrape: { at: number; result: Promise<Map<string, OutboxLag>> } | undefined;

function readLag(): Promise<Map<string, OutboxLag>> {
  if (lagScrape && Date.now() - lagScrape.at < 1_000) return lagScrape.result;
  const result = Promise.all(
    [...lagSources].map(async ([producer, query]) => [producer, await query().catch(() => undefined)] as const),
  ).then((entries) => new Map(entries.flatMap(([producer, lag]) => (lag ? [[producer, lag] as const] : []))));
  lagScrape = { at: Date.now(), result };
  return result;
}

gauge({
  name: 'agora_outbox_unsent_events',
  help: 'Outbox events not yet accepted by the sidecar, by producer (poison rows included)',
  labelNames: ['producer'],
  async collect() {
    this.reset();
    for (const [producer, lag] of await readLag()) this.set({ producer }, lag.unsent);
  },
});
gauge({
  name: 'agora_outbox_oldest_unsent_age_seconds',
  help: 'Age of the oldest unsent outbox event, by producer; 0 when none waits',
  labelNames: ['producer'],
  async collect() {
    this.reset();
    for (const [producer, lag] of await readLag()) this.set({ producer }, lag.oldestAgeSeconds);
  },
});

/** Backoff of one failing row; of the whole relay while the sidecar does not answer. */
const ROW_BACKOFF = new ExponentialBackoff({ initialDelay: 500, maxDelay: 60_000 });
const OUTAGE_BACKOFF = new ExponentialBackoff({ initialDelay: 250, maxDelay: 30_000 });
/** Rows committed by this process waiting to be published at most; more wait in the table for a sweep. */
const MAX_FRESH_ROWS = 1_000;
/** Without a publish that succeeded since, a first failure within this long of the last success is still charged. */
const EVIDENCE_WINDOW_MS = 60_000;

interface RowFailure {
  /** Consecutive failures seen by this relay. */
  backoff: IBackoff<unknown>;
  retryAt: number;
  lastFailureAt: number;
}

type PublishOutcome = { kind: 'published' } | { kind: 'rejected'; error: string } | { kind: 'unreachable'; error: string };

class SidecarUnreachableError extends Error {
  override name = 'SidecarUnreachableError';
}

/** The SDK's HTTP client reports an answer with an error status as an Error whose message is JSON with `status`. */
function answeredStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  try {
    const parsed = JSON.parse(error.message) as unknown;
    const status = typeof parsed === 'object' && parsed !== null ? (parsed as { status?: unknown }).status : undefined;
    return typeof status === 'number' ? status : undefined;
  } catch {
    return undefined;
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The SDK logs publish failures itself; they go to debug here, the relay logs its own view of them. */
function sdkLogger(logger: Logger): LoggerService {
  const write = (message: unknown, ...params: unknown[]) => logger.debug({ params }, String(message));
  return { error: write, warn: write, info: write, verbose: write, debug: write };
}

/**
 * Hands the outbox rows each commit through the relay's ORM wrote to `dispatch`, so events leave
 * right after their transaction without the producer asking, and a transaction that wrote none
 * costs the relay nothing. A flush that inserts outbox rows records them under its entity manager
 * (em.transactional's, or the one flushing in an implicit transaction); that manager's commit
 * dispatches them, its rollback forgets them. Rows written past the unit of work (raw SQL) or in a
 * nested transaction wait for a sweep.
 */
function dispatchOnOutboxCommit(dispatch: (rows: OutboxEventEntity[]) => void): EventSubscriber {
  const written = new WeakMap<EntityManager, OutboxEventEntity[]>();
  // A savepoint's release is not the commit: the outer transaction may still roll back.
  const savepoint = ({ transaction }: TransactionEventArgs): boolean => {
    const context: unknown = transaction;
    return typeof context === 'object' && context !== null && 'savepointName' in context;
  };
  return {
    onFlush({ em, uow }: FlushEventArgs) {
      const rows = uow
        .getChangeSets()
        .filter((changeSet) => changeSet.type === ChangeSetType.CREATE && changeSet.meta.className === OutboxEvent.meta.className)
        .map((changeSet) => changeSet.entity as OutboxEventEntity);
      if (rows.length > 0) written.set(em, [...(written.get(em) ?? []), ...rows]);
    },
    afterTransactionCommit(args: TransactionEventArgs) {
      if (savepoint(args)) return;
      const rows = written.get(args.em);
      if (!rows) return;
      written.delete(args.em);
      dispatch(rows);
    },
    afterTransactionRollback(args: TransactionEventArgs) {
      if (!savepoint(args)) written.delete(args.em);
    },
  };
}

export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const pubsubName = options.pubsubName ?? PUBSUB_NAME;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const sweepAfterMs = options.sweepAfterMs ?? 5_000;
  const batchSize = options.batchSize ?? 50;
  const maxAttempts = options.maxAttempts ?? 10;
  const host = options.daprHost ?? '127.0.0.1';
  const logger = options.logger.child({ component: 'outbox-relay', service: options.service, pubsub: pubsubName });
  const client = new DaprClient({
    daprHost: host,
    daprPort: String(options.daprHttpPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    logger: { level: LogLevel.Debug, service: sdkLogger(logger) },
  });
  // Not aborted after a publish that returned (cockatiel's default): the SDK's publish takes no signal.
  const publishTimeout = timeout(options.publishTimeoutMs ?? 5_000, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });

  const failures = new Map<string, RowFailure>();
  let lastSuccessAt: number | undefined;
  let clientStarted = false;
  // Mutated by notify(), dispatch() and stop() while a pass awaits, hence an object rather than narrowed locals.
  // sweepAll: the next pass sweeps every unsent row, however young (at start, on notify(), after a failed pass).
  const state: { stopped: boolean; rerun: boolean; sweepAll: boolean; running: Promise<void> | undefined } = { stopped: false, rerun: false, sweepAll: true, running: undefined };
  /** Rows this process committed, not yet published, oldest first. */
  const fresh: OutboxEventEntity[] = [];
  let lastSweepAt = 0;
  let timer: NodeJS.Timeout | undefined;
  /** Set while the sidecar does not answer (or the database fails): the relay's own backoff. */
  let outage: IBackoff<unknown> | undefined;

  /**
   * The SDK's first call waits up to 60 s for the sidecar (DaprClient.start); the relay asks the
   * sidecar's health endpoint itself first, so an absent sidecar costs one refused connection.
   */
  async function ensureClient(): Promise<void> {
    if (clientStarted) return;
    const healthy = await fetch(`http://${host}:${options.daprHttpPort}/v1.0/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (!healthy) throw new SidecarUnreachableError(`the Dapr sidecar at ${host}:${options.daprHttpPort} does not answer`);
    await publishTimeout.execute(() => client.start());
    clientStarted = true;
  }

  async function publish(row: OutboxEventEntity): Promise<PublishOutcome> {
    try {
      await ensureClient();
      // In the trace the event was written in, so the call to the sidecar (and the sidecar's span) join it.
      const result = await context.with(contextFromTraceparent(row.traceparent), () =>
        publishTimeout.execute(() => client.pubsub.publish(pubsubName, row.topic, toCloudEvent(row), { contentType: CLOUDEVENT_CONTENT_TYPE })),
      );
      // The SDK resolves with { error } instead of throwing (DEPENDENCY-NOTES.md).
      if (result.error === undefined) return { kind: 'published' };
      const status = answeredStatus(result.error);
      return status === undefined ? { kind: 'unreachable', error: messageOf(result.error) } : { kind: 'rejected', error: `status ${status}: ${messageOf(result.error)}` };
    } catch (error) {
      if (error instanceof SidecarUnreachableError) return { kind: 'unreachable', error: error.message };
      if (error instanceof TaskCancelledError) return { kind: 'unreachable', error: 'the publish timed out' };
      throw error;
    }
  }

  const backingOff = (now: number): string[] => [...failures].filter(([, failure]) => failure.retryAt > now).map(([id]) => id);

  /** Charges failures the broker is not to blame for, and parks rows that ran out of attempts. */
  async function charge(rejected: Rejection[]): Promise<void> {
    const charged = rejected.filter(({ previousFailureAt }) => {
      if (lastSuccessAt === undefined) return false;
      return previousFailureAt === undefined ? Date.now() - lastSuccessAt <= EVIDENCE_WINDOW_MS : lastSuccessAt > previousFailureAt;
    });
    if (charged.length === 0) return;
    const ids = charged.map(({ row }) => row.id);
    const em = options.orm.em.fork();
    await em.nativeUpdate(OutboxEvent, { id: { $in: ids }, sentAt: null }, { publishAttempts: raw('publish_attempts + 1') });
    const rows = await em.find(OutboxEvent, { id: { $in: ids }, sentAt: null }, { fields: ['id', 'publishAttempts'] });
    for (const { id, publishAttempts: attempts } of rows) {
      const { row, error } = charged.find((candidate) => candidate.row.id === id) ?? {};
      if (attempts >= maxAttempts) {
        failures.delete(id);
        logger.error({ eventId: id, type: row?.type, topic: row?.topic, attempts, error }, 'giving up on an outbox event that the sidecar keeps refusing; it stays unsent (reset publish_attempts to requeue it)');
      }
    }
  }

  type Rejection = { row: OutboxEventEntity; error: string; previousFailureAt: number | undefined };

  /** Publishes one row and records the outcome (metrics, the row's backoff, the rejections to charge). */
  async function publishRow(row: OutboxEventEntity, rejected: Rejection[]): Promise<PublishOutcome['kind']> {
    const outcome = await publish(row);
    const now = Date.now();
    switch (outcome.kind) {
      case 'published':
        published.inc({ producer: options.service, topic: row.topic }, { traceparent: row.traceparent });
        lastSuccessAt = now;
        failures.delete(row.id);
        logger.debug({ eventId: row.id, type: row.type, topic: row.topic }, 'published');
        break;
      case 'rejected': {
        publishFailures.inc({ producer: options.service, reason: 'rejected' }, { traceparent: row.traceparent });
        const previous = failures.get(row.id);
        const backoff = previous ? previous.backoff.next(undefined) : ROW_BACKOFF.next();
        failures.set(row.id, { backoff, retryAt: now + backoff.duration, lastFailureAt: now });
        rejected.push({ row, error: outcome.error, previousFailureAt: previous?.lastFailureAt });
        logger.warn({ eventId: row.id, type: row.type, topic: row.topic, error: outcome.error, retryInMs: Math.round(backoff.duration) }, 'the sidecar refused an outbox event; retrying it later');
        break;
      }
      case 'unreachable':
        publishFailures.inc({ producer: options.service, reason: 'unreachable' }, { traceparent: row.traceparent });
        if (!outage) logger.warn({ error: outcome.error }, 'cannot publish outbox events: the Dapr sidecar does not answer; retrying with backoff');
        break;
    }
    return outcome.kind;
  }

  /**
   * Publishes up to a batch of the rows this process committed, then marks those the sidecar
   * accepted sent in one statement. A row that failed is left unsent, for a sweep.
   */
  async function publishFresh(rejected: Rejection[]): Promise<'done' | 'unreachable'> {
    const rows = fresh.splice(0, batchSize);
    const sent: string[] = [];
    try {
      for (const row of rows) {
        const outcome = await publishRow(row, rejected);
        if (outcome === 'published') sent.push(row.id);
        if (outcome === 'unreachable') return 'unreachable';
      }
      return 'done';
    } finally {
      if (sent.length > 0) await options.orm.em.fork().nativeUpdate(OutboxEvent, { id: { $in: sent }, sentAt: null }, { sentAt: new Date() });
    }
  }

  /** Claims and publishes every eligible row (created before `before`, when given) once. */
  async function sweep(before: Date | undefined, rejected: Rejection[]): Promise<'done' | 'unreachable'> {
    const tried = new Set<string>();
    for (;;) {
      // Rows waiting in `fresh` are published by the next pass; a sweep must not send them as well.
      const exclude = [...tried, ...backingOff(Date.now()), ...fresh.map((row) => row.id)];
      const batch = await options.orm.em.fork().transactional(async (em) => {
        const rows = await em.find(
          OutboxEvent,
          { sentAt: null, publishAttempts: { $lt: maxAttempts }, ...(before ? { createdAt: { $lt: before } } : {}), ...(exclude.length > 0 ? { id: { $nin: exclude } } : {}) },
          { orderBy: { createdAt: 'asc', id: 'asc' }, limit: batchSize, lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE },
        );
        for (const row of rows) {
          tried.add(row.id);
          const outcome = await publishRow(row, rejected);
          if (outcome === 'published') row.sentAt = new Date();
          // The rows published so far in this batch are committed as sent.
          if (outcome === 'unreachable') return { size: rows.length, unreachable: true };
        }
        return { size: rows.length, unreachable: false };
      });
      if (batch.unreachable) return 'unreachable';
      if (batch.size < batchSize) return 'done';
    }
  }

  /** Publishes the fresh rows, then sweeps when one is due; 'unreachable' when the sidecar stopped answering. */
  async function pass(): Promise<'done' | 'unreachable'> {
    const rejected: Rejection[] = [];
    try {
      if ((await publishFresh(rejected)) === 'unreachable') return 'unreachable';
      const now = Date.now();
      if (!state.sweepAll && now - lastSweepAt < pollIntervalMs) return 'done';
      const before = state.sweepAll ? undefined : new Date(now - sweepAfterMs);
      state.sweepAll = false;
      lastSweepAt = now;
      return await sweep(before, rejected);
    } finally {
      if (rejected.length > 0) await charge(rejected);
    }
  }

  const schedule = (delayMs: number) => {
    clearTimeout(timer);
    timer = setTimeout(run, delayMs);
    timer.unref();
  };

  function run(): void {
    if (state.stopped) return;
    if (state.running) {
      state.rerun = true;
      return;
    }
    clearTimeout(timer);
    state.rerun = false;
    state.running = (async () => {
      let result: 'done' | 'unreachable' | 'failed';
      try {
        result = await pass();
      } catch (error) {
        logger.error({ err: error }, 'outbox relay pass failed; retrying with backoff');
        result = 'failed';
      }
      if (result === 'done') {
        if (outage) logger.info('the Dapr sidecar answers again; publishing outbox events');
        outage = undefined;
      } else {
        outage = outage ? outage.next(undefined) : OUTAGE_BACKOFF.next();
        // The fresh rows wait in the table now; the pass after the outage sweeps them all.
        fresh.length = 0;
        state.sweepAll = true;
      }
      for (const [id, failure] of failures) if (failure.retryAt < Date.now() - EVIDENCE_WINDOW_MS * 10) failures.delete(id);
      if (state.stopped) return;
      schedule(outage ? outage.duration : state.rerun || fresh.length > 0 ? 0 : pollIntervalMs);
    })().finally(() => (state.running = undefined));
  }

  const lagQuery = async (): Promise<OutboxLag> => {
    const [row] = await options.orm.em
      .getConnection()
      .execute<{ unsent: string; oldest: string | null }[]>('select count(*) as unsent, extract(epoch from now() - min(created_at)) as oldest from outbox_events where sent_at is null');
    return { unsent: Number(row?.unsent ?? 0), oldestAgeSeconds: Math.max(0, Number(row?.oldest ?? 0)) };
  };
  lagSources.set(options.service, lagQuery);

  function wake(): void {
    // While the sidecar is away, the backoff timer decides; producers must not turn an outage into a busy loop.
    if (state.stopped || outage) return;
    if (state.running) state.rerun = true;
    else schedule(0);
  }
  function notify(): void {
    state.sweepAll = true;
    wake();
  }
  function dispatch(rows: OutboxEventEntity[]): void {
    // While the sidecar is away (or the relay stopped, or is far behind) rows stay in the table for a sweep.
    if (state.stopped || outage || fresh.length >= MAX_FRESH_ROWS) return;
    fresh.push(...rows);
    wake();
  }
  // A stopped relay's subscriber stays registered (MikroORM cannot remove one); it then does nothing.
  options.orm.em.getEventManager().registerSubscriber(dispatchOnOutboxCommit(dispatch));

  schedule(0);
  logger.info({ pollIntervalMs, maxAttempts }, 'outbox relay started');

  return {
    notify,
    async stop() {
      state.stopped = true;
      clearTimeout(timer);
      if (lagSources.get(options.service) === lagQuery) lagSources.delete(options.service);
      await state.running;
      // No client.stop(): the SDK's HTTP agents are shared by every DaprClient of the process, and it would close them all.
    },
  };
}
