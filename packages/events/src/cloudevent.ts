import { CloudEvent, ValidationError } from 'cloudevents';
import { z } from 'zod';
import { eventCatalog, isEventType, type EventData, type EventType } from './catalog.ts';
import type { OutboxEventEntity } from './outbox.ts';

// The wire form of an Agora event: a structured-mode CloudEvent 1.0 (https://github.com/cloudevents/spec)
// whose id is the outbox row's id, so every redelivery of one change carries the same id and
// consumers can deduplicate by it.

export const CLOUDEVENT_CONTENT_TYPE = 'application/cloudevents+json';

/** The CloudEvent of an outbox row, as a JSON object. */
export function toCloudEvent(row: OutboxEventEntity): Record<string, unknown> {
  const event = new CloudEvent<Record<string, unknown>>({
    id: row.id,
    source: row.source,
    type: row.type,
    specversion: '1.0',
    time: row.createdAt.toISOString(),
    datacontenttype: 'application/json',
    data: row.data,
    ...(row.subject ? { subject: row.subject } : {}),
    // Dapr keeps an envelope's own trace context only when `traceid` is present as well (daprd's FromCloudEvent).
    ...(row.traceparent ? { traceparent: row.traceparent, traceid: row.traceparent } : {}),
  });
  return event.toJSON();
}

/** An event as a consumer's handler sees it: `data` validated against the catalog and typed by `type`. */
export type ReceivedEvent<T extends EventType = EventType> = {
  [K in T]: {
    id: string;
    type: K;
    source: string;
    subject: string | undefined;
    /** RFC 3339, when the producer set it (Agora's relay always does). */
    time: string | undefined;
    data: EventData<K>;
    traceparent: string | undefined;
  };
}[T];

/** Why a delivery cannot be handled, ever: the consumer answers DROP. */
export class UnprocessableEventError extends Error {
  override name = 'UnprocessableEventError';
  readonly eventId: string | undefined;
  readonly eventType: string | undefined;

  constructor(message: string, event: { id?: unknown; type?: unknown } = {}) {
    super(message);
    this.eventId = typeof event.id === 'string' ? event.id : undefined;
    this.eventType = typeof event.type === 'string' ? event.type : undefined;
  }
}

const eventId = z.uuid();

function dataOf(envelope: Record<string, unknown>): unknown {
  if ('data' in envelope) {
    const { data } = envelope;
    // A JSON payload sent as a string (some publishers double-encode); anything else is taken as is.
    if (typeof data !== 'string') return data;
    try {
      return JSON.parse(data);
    } catch {
      return data;
    }
  }
  const encoded = envelope['data_base64'];
  if (typeof encoded !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Reads a delivered structured CloudEvent (a JSON text or an already parsed object) whose type is
 * in the catalog and whose data matches its schema. Throws UnprocessableEventError otherwise.
 */
export function parseReceivedEvent(body: unknown): ReceivedEvent {
  let parsed: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      parsed = JSON.parse(body.toString());
    } catch {
      throw new UnprocessableEventError('the body is not JSON');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UnprocessableEventError('the body is not a JSON object');
  const envelope = parsed as Record<string, unknown>;
  try {
    new CloudEvent(envelope);
  } catch (error) {
    if (error instanceof ValidationError || error instanceof TypeError) throw new UnprocessableEventError(`not a valid CloudEvent: ${error.message}`, envelope);
    throw error;
  }
  const { id, type, source } = envelope as { id: string; type: string; source: string };
  if (!eventId.safeParse(id).success) throw new UnprocessableEventError(`the event id ${JSON.stringify(id)} is not a UUID`, envelope);
  if (!isEventType(type)) throw new UnprocessableEventError(`unknown event type ${type}`, envelope);
  const data = eventCatalog[type].data.safeParse(dataOf(envelope));
  if (!data.success) {
    const issues = data.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`).join('; ');
    throw new UnprocessableEventError(`data does not match the ${type} schema: ${issues}`, envelope);
  }
  const text = (name: string) => (typeof envelope[name] === 'string' && envelope[name] !== '' ? envelope[name] : undefined);
  return { id, type, source, subject: text('subject'), time: text('time'), data: data.data, traceparent: text('traceparent') } as ReceivedEvent;
}
