import type { Logger } from '@agora/service';
import { SpanKind, type Context } from '@opentelemetry/api';
import type { AppAddress } from '../context.ts';
import type { DeliveryOutcome, PubSub, ReceivedMessage } from '../pubsub/pubsub.ts';
import { CelError } from '../resiliency/cel.ts';
import { StatusCodeError, type ResiliencyPolicy } from '../resiliency/resiliency.ts';
import { contextFrom, endSpan, startSpan, traceHeaders } from '../tracing.ts';
import { CLOUDEVENT_CONTENT_TYPE, fromRawPayload, hasExpired, parseCloudEvent, type CloudEventMap } from './cloudevents.ts';
import type { RouteRule, SubscriptionRoute } from './subscriptions.ts';

// One message to the app, as daprd's HTTP app channel delivers it: POST the CloudEvent to the
// route its rules pick, with Content-Type application/cloudevents+json and the trace context.
// The app's answer: 2xx with {"status":"SUCCESS"} or no/other body → done; {"status":"RETRY"},
// an unknown status, or any status but 404 → failed (retried per the inbound resiliency
// policy); {"status":"DROP"} or 404 → dropped. A dropped message, or one whose retries are
// exhausted, goes to the dead-letter topic when there is one; otherwise an exhausted message
// stays with the component for redelivery. Each attempt is a consumer span `pubsub/{topic}`, child
// of the event's traceparent, and the app sees that span as its caller.

export interface DeliveryContext {
  app: AppAddress & { port: number };
  pubsub: PubSub;
  route: SubscriptionRoute;
  /** The component's inbound policy (deliveries) and outbound policy (dead-letter publishes). */
  inbound: ResiliencyPolicy;
  outbound: ResiliencyPolicy;
  /** Aborted when the channel closes: no further attempts, no dead-lettering. */
  stop: AbortSignal;
  /** Aborted when the channel gives up waiting for attempts in progress. */
  drain: AbortSignal;
  logger: Logger;
}

type AttemptResult = 'success' | 'drop';

const HOP_BY_HOP = new Set(['content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'keep-alive', 'traceparent', 'tracestate', 'upgrade', 'te', 'trailer']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The message's metadata as headers (daprd sends it as custom HTTP metadata) and the content type; each attempt adds its trace context. */
function headersFor(message: ReceivedMessage, pubsubName: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...message.metadata, pubsubName })) {
    if (HEADER_NAME.test(name) && !HOP_BY_HOP.has(name.toLowerCase()) && !/[\r\n\0]/.test(value)) headers[name.toLowerCase()] = value;
  }
  headers['content-type'] = CLOUDEVENT_CONTENT_TYPE;
  return headers;
}

/** The publisher's trace, from the event's traceparent (or the older traceid). */
function traceOf(event: CloudEventMap): Context {
  return contextFrom({ traceparent: event['traceparent'] ?? event['traceid'], tracestate: event['tracestate'] });
}

/** What one attempt posts to the app. */
interface Post {
  url: string;
  body: Buffer;
  headers: Record<string, string>;
  eventId: string;
  trace: Context;
}

/** The body to post and the event the rules see: the message as published, or daprd's raw-payload envelope. */
function eventOf(message: ReceivedMessage, route: SubscriptionRoute): { event: CloudEventMap; body: Buffer } {
  const trace = Object.fromEntries(['traceid', 'traceparent', 'tracestate'].flatMap((name) => (message.metadata[name] === undefined ? [] : [[name, message.metadata[name]]])));
  if (route.rawPayload) {
    const event = { ...fromRawPayload(message.data, route.topic, route.pubsubName), ...trace };
    if (typeof trace['traceparent'] === 'string') event['traceid'] = trace['traceparent'];
    return { event, body: Buffer.from(JSON.stringify(event)) };
  }
  // The body stays the published bytes; metadata only fills in a trace context the event lacks.
  return { event: { ...trace, ...parseCloudEvent(message.data) }, body: message.data };
}

/** The path of the first rule that matches; undefined when none does. Throws CelError when a rule cannot be evaluated. */
function matchRoute(rules: readonly RouteRule[], event: CloudEventMap): string | undefined {
  for (const rule of rules) {
    if (!rule.program) return rule.path;
    const result = rule.program.evaluate({ event });
    if (typeof result !== 'boolean') throw new CelError(`the result of match expression ${rule.match} was not a boolean`);
    if (result) return rule.path;
  }
  return undefined;
}

function appUrl(app: AppAddress & { port: number }, path: string): string {
  const host = app.host.includes(':') ? `[${app.host}]` : app.host;
  return `http://${host}:${app.port}/${path.replace(/^\/+/, '')}`;
}

/** daprd's AppResponse: the `status` member of a JSON object body (matched case-insensitively); '' otherwise. */
function appStatus(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '';
    const entry = Object.entries(parsed).find(([key]) => key.toLowerCase() === 'status');
    return typeof entry?.[1] === 'string' ? entry[1] : '';
  } catch {
    return '';
  }
}

/** One POST to the app. The channel closing does not interrupt it; its timeout, or the end of the drain, does. */
async function postOnce(context: DeliveryContext, post: Post, signal: AbortSignal): Promise<AttemptResult> {
  const { logger, stop } = context;
  const { url, body, eventId } = post;
  const interrupt = new AbortController();
  const onAbort = () => {
    if (!stop.aborted) interrupt.abort(signal.reason);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const span = startSpan(`pubsub/${context.route.topic}`, SpanKind.CONSUMER, post.trace, { 'messaging.system': 'pubsub', 'messaging.destination.name': context.route.topic });
  const headers = { ...post.headers, ...traceHeaders(span) };
  let outcome: Parameters<typeof endSpan>[1] = { error: 'no answer from the app' };
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.any([interrupt.signal, context.drain]) }).catch((error: unknown) => {
      outcome = { error };
      throw error;
    });
    outcome = { status: response.status };
    const text = await response.text();
    if (response.status >= 200 && response.status <= 299) {
      const status = appStatus(text);
      if (status === '' || status === 'SUCCESS') return 'success';
      if (status === 'DROP') {
        logger.warn({ eventId, url }, 'DROP status returned from app while processing pub/sub event');
        return 'drop';
      }
      throw new Error(`${status === 'RETRY' ? 'RETRY status' : `unknown status ${JSON.stringify(status)}`} returned from app while processing pub/sub event ${eventId}`);
    }
    if (response.status === 404) {
      logger.error({ eventId, url, body: text.slice(0, 500) }, 'non-retriable error returned from app while processing pub/sub event: status code 404; dropping it');
      return 'drop';
    }
    throw new StatusCodeError(response.status, `retriable error returned from app while processing pub/sub event ${eventId}: status code ${response.status}, body: ${text.slice(0, 500)}`);
  } finally {
    signal.removeEventListener('abort', onAbort);
    endSpan(span, outcome);
  }
}

/** Publishes the message as received to the route's dead-letter topic; `fallback` when there is none or it fails. */
async function deadLetterOr(context: DeliveryContext, message: ReceivedMessage, fallback: DeliveryOutcome): Promise<DeliveryOutcome> {
  const { route, logger } = context;
  if (!route.deadLetterTopic || context.stop.aborted) return fallback;
  try {
    const letter = { topic: route.deadLetterTopic, data: message.data, contentType: message.contentType, metadata: message.metadata };
    await context.outbound.execute(() => context.pubsub.publish(letter));
    logger.warn({ messageId: message.id, topic: route.topic, deadLetterTopic: route.deadLetterTopic }, 'message sent to the dead-letter topic');
    return 'ack';
  } catch (error) {
    logger.error({ messageId: message.id, topic: route.topic, deadLetterTopic: route.deadLetterTopic, error: String(error) }, 'error sending message to the dead-letter topic');
    return fallback;
  }
}

/** Delivers one message to the app; 'ack' once it is handled (delivered, dropped or dead-lettered), else 'retry'. */
export async function deliver(context: DeliveryContext, message: ReceivedMessage): Promise<DeliveryOutcome> {
  const { route, logger } = context;
  if (context.stop.aborted) return 'retry';
  let event: CloudEventMap;
  let body: Buffer;
  try {
    ({ event, body } = eventOf(message, route));
  } catch (error) {
    logger.error({ messageId: message.id, pubsub: route.pubsubName, topic: route.topic, error: String(error) }, 'error deserializing cloud event');
    return deadLetterOr(context, message, 'retry');
  }
  const eventId = typeof event['id'] === 'string' ? event['id'] : message.id;
  if (hasExpired(event)) {
    logger.warn({ eventId, expiration: event['expiration'], topic: route.topic }, 'dropping expired pub/sub event');
    await deadLetterOr(context, message, 'ack');
    return 'ack';
  }
  let path: string | undefined;
  try {
    path = matchRoute(route.rules, event);
  } catch (error) {
    logger.error({ eventId, pubsub: route.pubsubName, topic: route.topic, error: String(error) }, 'error finding matching route for event');
    return deadLetterOr(context, message, 'retry');
  }
  if (path === undefined) {
    logger.debug({ eventId, pubsub: route.pubsubName, topic: route.topic }, 'no matching route for event; skipping');
    await deadLetterOr(context, message, 'ack');
    return 'ack';
  }
  return deliverToRoute(context, message, { url: appUrl(context.app, path), body, headers: headersFor(message, route.pubsubName), eventId, trace: traceOf(event) });
}

async function deliverToRoute(context: DeliveryContext, message: ReceivedMessage, post: Post): Promise<DeliveryOutcome> {
  const { url, eventId } = post;
  let lastAttempt: Promise<AttemptResult | undefined> | undefined;
  let result: AttemptResult;
  try {
    result = await context.inbound.execute((signal) => {
      const attempt = postOnce(context, post, signal);
      lastAttempt = attempt.catch(() => undefined);
      return attempt;
    }, context.stop);
  } catch (error) {
    if (context.stop.aborted) {
      // Closing: an attempt already under way still counts; no new attempt, no dead-lettering.
      const finished = await lastAttempt;
      return finished === 'success' || (finished === 'drop' && !context.route.deadLetterTopic) ? 'ack' : 'retry';
    }
    context.logger.warn({ eventId, url, error: String(error) }, 'delivery to the app failed and will not be retried now');
    return deadLetterOr(context, message, 'retry');
  }
  if (result === 'success' || !context.route.deadLetterTopic) return 'ack';
  return deadLetterOr(context, message, 'retry');
}
