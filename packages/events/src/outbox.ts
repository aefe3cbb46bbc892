import { defineEntity, p, type EntityManager, type InferEntity } from '@mikro-orm/core';
import { currentTraceparent } from '@agora/telemetry';
import { eventCatalog, parseEventData, type EventData, type EventType } from './catalog.ts';
import { uuidv7 } from './uuidv7.ts';

// The transactional outbox: an event is a row written by the same flush (transaction) as the
// change it reports, so the change and its event commit or fail together. The relay publishes
// unsent rows and marks them sent. Each service lists OutboxEvent (and ProcessedEvent, when it
// consumes events) among its entities, so its own migrations create the tables.

export const OutboxEvent = defineEntity({
  name: 'OutboxEvent',
  tableName: 'outbox_events',
  indexes: [{ name: 'outbox_events_unsent_idx', expression: 'create index "outbox_events_unsent_idx" on "outbox_events" ("created_at") where "sent_at" is null' }],
  properties: {
    /** The CloudEvent id: consumers deduplicate by it. Version 7, so (created_at, id) is creation order even within a millisecond. */
    id: p.uuid().primary().onCreate(() => uuidv7()),
    type: p.string().length(100),
    topic: p.string().length(100),
    /** The CloudEvent source, e.g. agora/orders. */
    source: p.string().length(100),
    /** The CloudEvent subject: the entity the event is about. */
    subject: p.string().length(200).nullable(),
    data: p.json<Record<string, unknown>>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    sentAt: p.datetime().nullable(),
    publishAttempts: p.integer().default(0),
    /** The trace the change happened in, so the event continues it. */
    traceparent: p.string().length(55).nullable(),
  },
});

export type OutboxEventEntity = InferEntity<typeof OutboxEvent>;

/** Events a consumer has handled, keyed by (event id, consumer): a redelivery changes nothing. */
export const ProcessedEvent = defineEntity({
  name: 'ProcessedEvent',
  tableName: 'processed_events',
  properties: {
    eventId: p.uuid().primary(),
    consumer: p.string().length(100).primary(),
    type: p.string().length(100),
    processedAt: p.datetime().onCreate(() => new Date()),
  },
});

export type ProcessedEventEntity = InferEntity<typeof ProcessedEvent>;

export interface NewEvent<T extends EventType> {
  type: T;
  /** The producing service, e.g. "orders" (CloudEvent source agora/orders). */
  service: string;
  subject?: string;
  data: EventData<T>;
  /** The trace the event continues; the active span's when absent (consumers then join the producer's trace). */
  traceparent?: string | undefined;
}

/**
 * Adds an event to the outbox in `em`'s unit of work: it is written by the caller's next flush,
 * in the caller's transaction. Invalid data is a programming error and throws at once.
 */
export function enqueueEvent<T extends EventType>(em: EntityManager, event: NewEvent<T>): OutboxEventEntity {
  const data = parseEventData(event.type, event.data);
  return em.create(OutboxEvent, {
    type: event.type,
    topic: eventCatalog[event.type].topic,
    source: `agora/${event.service}`,
    subject: event.subject ?? null,
    data,
    sentAt: null,
    traceparent: event.traceparent ?? currentTraceparent() ?? null,
  });
}
