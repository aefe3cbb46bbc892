import { randomUUID } from 'node:crypto';
import { CloudEvent } from 'cloudevents';

// CloudEvents as daprd builds and reads them (components-contrib pubsub/envelope.go), on the
// CloudEvents SDK: the envelope of a published payload, an envelope the app sent itself, the
// envelope a subscriber with rawPayload sees, and message expiry.

export const CLOUDEVENT_CONTENT_TYPE = 'application/cloudevents+json';
const DEFAULT_TYPE = 'com.dapr.event.sent';
const DEFAULT_SOURCE = 'Dapr';
const DEFAULT_DATA_CONTENT_TYPE = 'text/plain';

export type CloudEventMap = Record<string, unknown>;

/** Go's strconv.ParseBool, which daprd applies to `rawPayload`. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** A metadata value by case-insensitive name, as daprd's mapstructure decoding reads it. */
export function metadataValue(metadata: Readonly<Record<string, string>>, name: string): string | undefined {
  const key = Object.keys(metadata).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : metadata[key];
}

/** Compares the media type, ignoring parameters such as `; charset=utf-8`. */
export function isContentType(contentType: string, expected: string): boolean {
  return contentType.split(';')[0]?.trim().toLowerCase() === expected;
}

export const isCloudEventContentType = (contentType: string) => isContentType(contentType, CLOUDEVENT_CONTENT_TYPE);
export const isJsonContentType = (contentType: string) => isContentType(contentType, 'application/json');
export const isBinaryContentType = (contentType: string) => isContentType(contentType, 'application/octet-stream');
export const isStringContentType = (contentType: string) => contentType.toLowerCase().startsWith('text/') || isContentType(contentType, 'application/xml');

const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

const preciseReviver = (_key: string, value: unknown, context?: { source?: string }) =>
  typeof value === 'number' && !Number.isSafeInteger(value) && rawJSON && context?.source && /^-?\d+$/.test(context.source) ? rawJSON(context.source) : value;
/** An integer beyond 2^53 has at least 16 digits; text without such a run parses the same without the reviver, which is slower. */
const LONG_DIGIT_RUN = /\d{16}/;

/** JSON.parse that keeps integers beyond 2^53 exact when re-serialized (daprd decodes with UseNumber). */
export function parseJsonPrecise(text: string): unknown {
  return LONG_DIGIT_RUN.test(text) ? JSON.parse(text, preciseReviver) : JSON.parse(text);
}

const isObject = (value: unknown): value is CloudEventMap => typeof value === 'object' && value !== null && !Array.isArray(value);

export interface EnvelopeInput {
  id: string | undefined;
  source: string;
  type: string | undefined;
  subject: string | undefined;
  topic: string;
  pubsubName: string;
  dataContentType: string;
  data: Buffer;
  /** Becomes both `traceid` and `traceparent`, as in daprd. */
  traceparent: string;
  tracestate: string;
}

/** The data member for a content type: JSON parsed when it parses, bytes as data_base64, else text. */
function dataMember(contentType: string, data: Buffer): { data: unknown } | { data_base64: string } {
  if (isJsonContentType(contentType)) {
    try {
      return { data: parseJsonPrecise(data.toString('utf8')) };
    } catch {
      return { data: data.toString('utf8') };
    }
  }
  if (isBinaryContentType(contentType) || isContentType(contentType, 'application/cloudevents+protobuf')) return { data_base64: data.toString('base64') };
  return { data: data.toString('utf8') };
}

/** daprd's NewCloudEventsEnvelope: wraps a published payload. */
export function newEnvelope(input: EnvelopeInput): CloudEventMap {
  const dataContentType = input.dataContentType || DEFAULT_DATA_CONTENT_TYPE;
  const event = new CloudEvent<unknown>({
    id: input.id || randomUUID(),
    source: input.source || DEFAULT_SOURCE,
    type: input.type || DEFAULT_TYPE,
    specversion: '1.0',
    datacontenttype: dataContentType,
    ...(input.subject ? { subject: input.subject } : {}),
    ...dataMember(dataContentType, input.data),
    topic: input.topic,
    pubsubname: input.pubsubName,
    traceid: input.traceparent,
    traceparent: input.traceparent,
    tracestate: input.tracestate,
  });
  return event.toJSON();
}

/**
 * daprd's FromCloudEvent: keeps the app's own CloudEvent, sets topic and pubsubname, fills in
 * time, source, type, specversion and the trace context when missing. Throws on invalid JSON.
 */
export function fromAppCloudEvent(body: Buffer, topic: string, pubsubName: string, traceparent: string, tracestate: string): CloudEventMap {
  const parsed = parseJsonPrecise(body.toString('utf8'));
  if (!isObject(parsed)) throw new Error('the CloudEvent is not a JSON object');
  const event: CloudEventMap = { ...parsed, topic, pubsubname: pubsubName };
  if (!('traceid' in parsed)) Object.assign(event, { traceid: traceparent, traceparent });
  if (!('tracestate' in parsed)) event['tracestate'] = tracestate;
  event['source'] ??= DEFAULT_SOURCE;
  event['type'] ??= DEFAULT_TYPE;
  return new CloudEvent<unknown>(event, false).toJSON();
}

/** daprd's FromRawPayload: what a subscriber with rawPayload receives (always data_base64). */
export function fromRawPayload(data: Buffer, topic: string, pubsubName: string): CloudEventMap {
  return new CloudEvent<unknown>({
    id: randomUUID(),
    source: DEFAULT_SOURCE,
    type: DEFAULT_TYPE,
    specversion: '1.0',
    datacontenttype: 'application/octet-stream',
    data_base64: data.toString('base64'),
    topic,
    pubsubname: pubsubName,
  }).toJSON();
}

/** RFC 3339 time `ttlSeconds` from now, for the `expiration` member (daprd's ApplyMetadata). */
export const expirationAfter = (ttlSeconds: number): string => new Date(Date.now() + ttlSeconds * 1_000).toISOString();

/** Whether the event's `expiration` has passed; an unparsable one never expires (as daprd). */
export function hasExpired(event: CloudEventMap): boolean {
  const expiration = event['expiration'];
  if (typeof expiration !== 'string' || expiration === '') return false;
  const at = Date.parse(expiration);
  return Number.isFinite(at) && at < Date.now();
}

/** Parses a delivered message as a CloudEvent map; throws when it is not one. */
export function parseCloudEvent(data: Buffer): CloudEventMap {
  const parsed: unknown = JSON.parse(data.toString('utf8'));
  if (!isObject(parsed)) throw new Error('the message is not a JSON object');
  return parsed;
}
