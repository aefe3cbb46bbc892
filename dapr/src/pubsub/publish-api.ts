import { SpanKind, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  CLOUDEVENT_CONTENT_TYPE,
  expirationAfter,
  fromAppCloudEvent,
  isBinaryContentType,
  isCloudEventContentType,
  isJsonContentType,
  isStringContentType,
  metadataValue,
  newEnvelope,
  parseGoBool,
  type CloudEventMap,
} from '../app-channel/cloudevents.ts';
import type { SidecarContext } from '../context.ts';
import { DaprApiError, sendDaprError } from '../http/dapr-error.ts';
import { parseDuration } from '../resiliency/duration.ts';
import { contextFrom, endSpan, startSpan, traceHeaders } from '../tracing.ts';
import { TopicNotAllowedError, type PubSub, type PublishedMessage } from './pubsub.ts';

// daprd's publish API (https://docs.dapr.io/reference/api/pubsub_api/):
//   POST|PUT /v1.0/publish/{pubsubname}/{topic}             one message → 204
//   POST|PUT /v1.0-alpha1/publish/bulk/{pubsubname}/{topic} (and /v1.0/…) entries → 204
// `metadata.*` query parameters travel with the message. The payload is wrapped in a CloudEvent
// (kept, with topic and pubsubname set, when it already is one) unless metadata.rawPayload=true.
// Each message gets a producer span, child of the request's traceparent; the envelope carries
// the span's context, so the consumer's span joins the publisher's trace.

interface Target {
  pubsubName: string;
  topic: string;
  pubsub: PubSub;
  metadata: Record<string, string>;
}

interface TopicParams {
  pubsubname: string;
  '*': string;
}

/** The `metadata.*` query parameters, first value of each (daprd's getMetadataFromRequest). */
function requestMetadata(request: FastifyRequest): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of new URL(request.url, 'http://sidecar').searchParams) {
    if (key.startsWith('metadata.') && !(key.slice(9) in metadata)) metadata[key.slice(9)] = value;
  }
  return metadata;
}

/** daprd's validateAndGetPubsubAndTopic, then metadata.rawPayload. */
function resolveTarget(request: FastifyRequest<{ Params: TopicParams }>, context: SidecarContext): Target & { rawPayload: boolean } {
  const { pubsubname: pubsubName, '*': topic } = request.params;
  if (!pubsubName) throw new DaprApiError(404, 'ERR_PUBSUB_EMPTY', 'pubsub name is empty');
  const pubsub = context.pubsubs.get(pubsubName);
  if (!pubsub) throw new DaprApiError(404, 'ERR_PUBSUB_NOT_FOUND', `pubsub ${pubsubName} is not found`);
  if (!topic) throw new DaprApiError(404, 'ERR_TOPIC_NAME_EMPTY', `topic is empty in pubsub ${pubsubName}`);
  const metadata = requestMetadata(request);
  const raw = metadata['rawPayload'];
  const rawPayload = raw ? parseGoBool(raw) : false;
  if (rawPayload === undefined) {
    throw new DaprApiError(400, 'ERR_PUBSUB_REQUEST_METADATA', `failed deserializing metadata. Error: rawPayload value must be a valid boolean: actual is '${raw ?? ''}'`);
  }
  return { pubsubName, topic, pubsub, metadata, rawPayload };
}

/** Seconds from `ttlInSeconds` (or `ttl`): integer seconds or a Go duration; invalid values are ignored, as in daprd. */
function ttlSeconds(metadata: Record<string, string>): number | undefined {
  const value = metadataValue(metadata, 'ttl') ?? metadataValue(metadata, 'ttlInSeconds');
  if (!value) return undefined;
  if (/^-?\d+$/.test(value)) return Number(value) > 0 ? Number(value) : undefined;
  const ms = parseDuration(value);
  return ms === undefined ? undefined : ms / 1_000;
}

/** The trace context a message's envelope carries (none when the sidecar has no valid span). */
interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

/** daprd's runtime NewCloudEvent + ApplyMetadata: `cloudevent.*` metadata overrides envelope members. */
function cloudEventFor(target: Target, data: Buffer, contentType: string, trace: TraceHeaders, appId: string): CloudEventMap {
  const override = (name: string) => metadataValue(target.metadata, `cloudevent.${name}`);
  const traceparent = override('traceparent') || override('traceid') || trace.traceparent || '';
  const state = override('tracestate') ?? trace.tracestate ?? '';
  const event = isCloudEventContentType(contentType)
    ? fromAppCloudEvent(data, target.topic, target.pubsubName, traceparent, state)
    : newEnvelope({
        id: override('id'),
        source: override('source') ?? appId,
        type: override('type'),
        subject: override('subject'),
        topic: target.topic,
        pubsubName: target.pubsubName,
        dataContentType: contentType,
        data,
        traceparent,
        tracestate: state,
      });
  const ttl = ttlSeconds(target.metadata);
  return ttl === undefined ? event : { ...event, expiration: expirationAfter(ttl) };
}

function messageFor(target: Target, rawPayload: boolean, payload: Buffer, contentType: string, trace: TraceHeaders, appId: string): PublishedMessage {
  if (rawPayload) return { topic: target.topic, data: payload, contentType, metadata: target.metadata };
  let event: CloudEventMap;
  try {
    event = cloudEventFor(target, payload, contentType, trace, appId);
  } catch (error) {
    throw new DaprApiError(500, 'ERR_PUBSUB_CLOUD_EVENTS_SER', `cannot create cloudevent: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { topic: target.topic, data: Buffer.from(JSON.stringify(event)), contentType: CLOUDEVENT_CONTENT_TYPE, metadata: target.metadata };
}

/** Publishes under the component's outbound resiliency policy. */
async function publishThrough(context: SidecarContext, target: Target, message: PublishedMessage): Promise<void> {
  await context.resiliency.forComponentOutbound(target.pubsubName, 'Pubsub').execute(() => target.pubsub.publish(message));
}

function publishFailure(error: unknown, target: Target, appId: string): DaprApiError {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof TopicNotAllowedError) return new DaprApiError(403, 'ERR_PUBSUB_FORBIDDEN', `topic ${target.topic} is not allowed for app id ${appId}`);
  return new DaprApiError(500, 'ERR_PUBSUB_PUBLISH_MESSAGE', `error when publishing to topic ${target.topic} in pubsub ${target.pubsubName}: ${reason}`);
}

const bodyOf = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

/** The producer spans of one publish request, ended together with its outcome (as daprd's closeChildSpans). */
class ProducerSpans {
  readonly #request: FastifyRequest;
  readonly #spans: Span[] = [];

  constructor(request: FastifyRequest) {
    this.#request = request;
  }

  /** Starts a message's span; returns the trace context its envelope carries. */
  start(target: Target): TraceHeaders {
    const { headers, url } = this.#request;
    const span = startSpan(url.split('?')[0] ?? url, SpanKind.PRODUCER, contextFrom(headers), {
      'messaging.system': 'pubsub',
      'messaging.destination.name': target.topic,
      'dapr.protocol': 'http',
    });
    this.#spans.push(span);
    return traceHeaders(span);
  }

  end(outcome: Parameters<typeof endSpan>[1]): void {
    for (const span of this.#spans.splice(0)) endSpan(span, outcome);
  }
}

type PublishHandler = (request: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply, context: SidecarContext, spans: ProducerSpans) => Promise<FastifyReply>;

async function handlePublish(request: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply, context: SidecarContext, spans: ProducerSpans): Promise<FastifyReply> {
  const target = resolveTarget(request, context);
  const contentType = request.headers['content-type'] ?? '';
  const message = messageFor(target, target.rawPayload, bodyOf(request), contentType, spans.start(target), context.appId);
  try {
    await publishThrough(context, target, message);
  } catch (error) {
    throw publishFailure(error, target, context.appId);
  }
  return reply.code(204).send();
}

interface BulkEntry {
  entryId: string;
  event: unknown;
  contentType: string;
  metadata: Record<string, string> | undefined;
}

const marshalError = (target: Target, reason: string) =>
  new DaprApiError(400, 'ERR_PUBSUB_EVENTS_SER', `error marshaling events to bytes for topic ${target.topic} pubsub ${target.pubsubName}. error: ${reason}`);

/** A member by case-insensitive name, as Go's encoding/json matches struct fields. */
function member(entry: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(entry).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : entry[key];
}

function parseBulkEntries(body: Buffer, target: Target): BulkEntry[] {
  const unmarshalError = (reason: string) =>
    new DaprApiError(400, 'ERR_PUBSUB_EVENTS_SER', `error when unmarshaling the request for topic ${target.topic} pubsub ${target.pubsubName}: ${reason}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw unmarshalError(error instanceof Error ? error.message : String(error));
  }
  if (!Array.isArray(parsed)) throw unmarshalError('expected a JSON array of entries');
  return parsed.map((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw unmarshalError(`entry ${index} is not an object`);
    const entry = item as Record<string, unknown>;
    const [entryId = '', contentType = '', metadata] = [member(entry, 'entryId'), member(entry, 'contentType'), member(entry, 'metadata')];
    if (typeof entryId !== 'string' || typeof contentType !== 'string') throw unmarshalError(`entry ${index}: entryId and contentType must be strings`);
    const validMetadata = metadata === undefined || metadata === null || (typeof metadata === 'object' && !Array.isArray(metadata) && Object.values(metadata).every((value) => typeof value === 'string'));
    if (!validMetadata) throw unmarshalError(`entry ${index}: metadata must map names to strings`);
    return { entryId, event: member(entry, 'event'), contentType, metadata: (metadata ?? undefined) as Record<string, string> | undefined };
  });
}

/** daprd's ConvertEventToBytes: an entry's event as bytes for its content type. */
function eventBytes(entry: BulkEntry): Buffer {
  const mismatch = new Error('error: mismatch between contentType and event');
  if (isBinaryContentType(entry.contentType)) {
    if (typeof entry.event !== 'string') throw mismatch;
    if (entry.event.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(entry.event)) throw new Error('error: unable to decode base64 application/octet-stream data');
    return Buffer.from(entry.event, 'base64');
  }
  if (isStringContentType(entry.contentType)) {
    if (typeof entry.event !== 'string') throw mismatch;
    return Buffer.from(entry.event);
  }
  if (isJsonContentType(entry.contentType) || isCloudEventContentType(entry.contentType)) return Buffer.from(entry.event === undefined ? 'null' : JSON.stringify(entry.event));
  throw mismatch;
}

async function handleBulkPublish(request: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply, context: SidecarContext, spans: ProducerSpans): Promise<FastifyReply> {
  const target = resolveTarget(request, context);
  const entries = parseBulkEntries(bodyOf(request), target);
  const seen = new Set<string>();
  const messages = entries.map((entry) => {
    let payload: Buffer;
    try {
      payload = eventBytes(entry);
    } catch (error) {
      throw new DaprApiError(
        400,
        'ERR_PUBSUB_EVENTS_SER',
        `error when marshalling cloud event envelope for topic ${target.topic} pubsub ${target.pubsubName}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (entry.entryId === '' || seen.has(entry.entryId)) throw marshalError(target, 'entryId is duplicated or not present for entry');
    seen.add(entry.entryId);
    // Entry metadata overrides the request's; an entry without metadata gets none (as daprd).
    const entryTarget = { ...target, metadata: entry.metadata ? { ...target.metadata, ...entry.metadata } : {} };
    return { entryId: entry.entryId, target: entryTarget, message: messageFor(entryTarget, target.rawPayload, payload, entry.contentType, spans.start(entryTarget), context.appId) };
  });
  const results = await Promise.allSettled(messages.map(({ target: entryTarget, message }) => publishThrough(context, entryTarget, message)));
  const failed = messages.flatMap(({ entryId }, index) => {
    const result = results[index];
    return result?.status === 'rejected' ? [{ entryId, error: result.reason as unknown }] : [];
  });
  if (failed.length === 0) return reply.code(204).send();
  if (failed.some(({ error }) => error instanceof TopicNotAllowedError)) throw publishFailure(new TopicNotAllowedError('forbidden'), target, context.appId);
  const failedEntries = failed.map(({ entryId, error }) => ({ entryId, error: error instanceof Error ? error.message : String(error) }));
  context.logger.debug({ pubsub: target.pubsubName, topic: target.topic, failedEntries }, 'bulk publish: some entries failed');
  return reply.code(500).type('application/json').send({ failedEntries, errorCode: 'ERR_PUBSUB_PUBLISH_MESSAGE' });
}

const withDaprErrors =
  (context: SidecarContext, handler: PublishHandler) =>
  async (request: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply): Promise<FastifyReply> => {
    const spans = new ProducerSpans(request);
    try {
      const answered = await handler(request, reply, context, spans);
      spans.end({ status: reply.statusCode });
      return answered;
    } catch (error) {
      if (!(error instanceof DaprApiError)) {
        spans.end({ error });
        throw error;
      }
      spans.end({ status: error.status });
      context.logger.debug({ errorCode: error.errorCode }, error.message);
      return sendDaprError(reply, error.status, error.errorCode, error.message);
    }
  };

export function registerPublishApi(app: FastifyInstance, context: SidecarContext): void {
  app.route<{ Params: TopicParams }>({ method: ['POST', 'PUT'], url: '/v1.0/publish/:pubsubname/*', handler: withDaprErrors(context, handlePublish) });
  for (const version of ['v1.0-alpha1', 'v1.0']) {
    app.route<{ Params: TopicParams }>({ method: ['POST', 'PUT'], url: `/${version}/publish/bulk/:pubsubname/*`, handler: withDaprErrors(context, handleBulkPublish) });
  }
}
