import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@agora/service';
import { counter } from '@agora/telemetry';
import { eventCatalog, isEventType, PUBSUB_NAME, type EventData, type EventTopic, type EventType } from './catalog.ts';
import { parseReceivedEvent, UnprocessableEventError, type ReceivedEvent } from './cloudevent.ts';
import { ProcessedEvent } from './outbox.ts';

// The consuming side (docs/adr/0011-events-outbox.md): Dapr programmatic subscriptions served at
// GET /dapr/subscribe, one per topic, routed by event type with Dapr routing rules, and a POST
// route per subscription that answers in Dapr's pub/sub contract
// (https://docs.dapr.io/reference/api/pubsub_api/#provide-routes-for-dapr-to-deliver-topic-events):
//   SUCCESS  handled now, or handled before (a redelivery: the event id is in processed_events), or
//            of no concern to this consumer (its `skipWhen` matches: nothing is written)
//   DROP     can never be handled: not a CloudEvent, unknown type, data not matching the schema
//   RETRY    anything else (HTTP 500): the sidecar delivers it again with backoff
// The processed_events row and the handler's writes commit in one transaction, so an event is
// applied exactly once even though it may be delivered many times.

const consumed = counter({
  name: 'agora_events_consumed_total',
  help: 'Events delivered to a consumer, by outcome: processed, duplicate (already processed), ignored (not for this consumer), dropped (never processable), failed (Dapr redelivers)',
  labelNames: ['consumer', 'type', 'outcome'],
});
const redeliveries = counter({
  name: 'agora_events_redeliveries_total',
  help: 'Deliveries of events this consumer had already processed (at-least-once delivery at work)',
  labelNames: ['consumer', 'type'],
});

/** A type label that a sender cannot make up: catalog types only. */
const typeLabel = (type: string | undefined): string => (type !== undefined && isEventType(type) ? type : 'unknown');

type SubscriptionTypes<T extends EventType> = { type: T; types?: undefined } | { types: readonly [T, ...T[]]; type?: undefined };

/** Values of top-level data fields (booleans or strings: CEL compares them as JSON gives them). */
type SkipWhen<T extends EventType> = { [K in keyof EventData<T>]?: Extract<EventData<T>[K], boolean | string> };

export type EventSubscription<T extends EventType = EventType> = SubscriptionTypes<T> & {
  /** The topic of the types; it is the catalog's, and a different one is refused at registration. */
  topic?: EventTopic;
  /** The path Dapr posts these events to, e.g. /events/orders. */
  route: string;
  /**
   * Data that makes an event of no concern to this consumer: every listed field present with
   * that value. It is part of the Dapr routing rule, so the sidecar acknowledges such an event
   * without posting it; one that reaches the app anyway (posted directly, or by a sidecar that
   * still has the old rule) is acknowledged at once: no transaction, no processed_events row, no
   * handler.
   */
  skipWhen?: SkipWhen<T>;
  /** Applies the event in `em`'s transaction, which also records it as processed. Throwing rolls both back and asks for a redelivery. */
  handle(event: ReceivedEvent<T>, em: EntityManager): Promise<void>;
  /** Runs after the transaction committed (not for redeliveries); its failure is logged, the event stays processed. */
  afterCommit?(event: ReceivedEvent<T>): Promise<void>;
};

/** Infers a subscription's event types, so its handler sees typed `data`. */
export const defineSubscription = <T extends EventType>(subscription: EventSubscription<T>): EventSubscription<T> => subscription;

export interface EventSubscriptionsOptions {
  /** The consuming service's ORM; its entities include ProcessedEvent. */
  orm: MikroORM;
  /** Names this consumer in processed_events, so two consumers in one database deduplicate separately. */
  consumer: string;
  subscriptions: readonly EventSubscription[];
  logger: Logger;
  pubsubName?: string;
  /**
   * When set, deliveries must carry it in `dapr-api-token` (daprd's APP_API_TOKEN), so only the
   * sidecar can post events. The local sidecar does not send one; leave it unset there.
   */
  appApiToken?: string | undefined;
}

/** Dapr's programmatic subscription entry (GET /dapr/subscribe). */
export interface DaprSubscription {
  pubsubname: string;
  topic: string;
  routes: { rules: { match: string; path: string }[] };
}

interface Route {
  path: string;
  subscription: EventSubscription;
  types: ReadonlySet<EventType>;
  /** skipWhen's fields and values. */
  skip: [string, boolean | string][];
}

const CEL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The routing rule's CEL for a route's type: that type, and not every skipWhen field at its value. */
function matchOf(type: EventType, skip: Route['skip']): string {
  const match = `event.type == "${type}"`;
  if (skip.length === 0) return match;
  const skipped = skip.map(([field, value]) => `has(event.data.${field}) && event.data.${field} == ${JSON.stringify(value)}`).join(' && ');
  return `${match} && !(${skipped})`;
}

const skips = (route: Route, event: ReceivedEvent): boolean =>
  route.skip.length > 0 && route.skip.every(([field, value]) => (event.data as Record<string, unknown>)[field] === value);

function routesOf(subscriptions: readonly EventSubscription[]): Route[] {
  const byPath = new Map<string, Route>();
  const seen = new Set<EventType>();
  for (const subscription of subscriptions) {
    const types = subscription.types ?? [subscription.type];
    const path = subscription.route.startsWith('/') ? subscription.route : `/${subscription.route}`;
    if (byPath.has(path)) throw new Error(`two event subscriptions use the route ${path}`);
    for (const type of types) {
      if (seen.has(type)) throw new Error(`${type} has two event subscriptions`);
      seen.add(type);
      const topic = eventCatalog[type].topic;
      if (subscription.topic !== undefined && subscription.topic !== topic) throw new Error(`${type} is published to topic ${topic}, not ${subscription.topic}`);
    }
    const skip = Object.entries(subscription.skipWhen ?? {}).filter((entry): entry is [string, boolean | string] => entry[1] !== undefined);
    for (const [field, value] of skip) {
      if (!CEL_IDENTIFIER.test(field) || (typeof value !== 'boolean' && typeof value !== 'string')) throw new Error(`skipWhen at ${path}: ${field} must be a data field name with a boolean or string value`);
    }
    byPath.set(path, { path, subscription, types: new Set(types), skip });
  }
  return [...byPath.values()];
}

/** One Dapr subscription per topic, with a routing rule per event type (Dapr allows one subscription per pubsub and topic). */
export function daprSubscriptions(subscriptions: readonly EventSubscription[], pubsubName: string = PUBSUB_NAME): DaprSubscription[] {
  const byTopic = new Map<string, DaprSubscription>();
  for (const route of routesOf(subscriptions)) {
    for (const type of route.types) {
      const topic = eventCatalog[type].topic;
      const entry = byTopic.get(topic) ?? { pubsubname: pubsubName, topic, routes: { rules: [] } };
      entry.routes.rules.push({ match: matchOf(type, route.skip), path: route.path });
      byTopic.set(topic, entry);
    }
  }
  return [...byTopic.values()];
}

type Outcome = 'SUCCESS' | 'DROP' | 'RETRY';

/**
 * Serves the subscriptions on `app` (before it listens): GET /dapr/subscribe and a POST route per
 * subscription. Call it once per app.
 */
export async function registerEventSubscriptions(app: FastifyInstance, options: EventSubscriptionsOptions): Promise<void> {
  const routes = routesOf(options.subscriptions);
  const subscribe = daprSubscriptions(options.subscriptions, options.pubsubName);
  const logger = options.logger.child({ component: 'events', consumer: options.consumer });

  async function apply(route: Route, body: unknown): Promise<Outcome> {
    let event: ReceivedEvent;
    try {
      event = parseReceivedEvent(body);
      if (!route.types.has(event.type)) throw new UnprocessableEventError(`${event.type} is not subscribed at ${route.path}`, event);
    } catch (error) {
      if (!(error instanceof UnprocessableEventError)) throw error;
      logger.warn({ route: route.path, eventId: error.eventId, type: error.eventType, reason: error.message }, 'dropping an event that cannot be processed');
      consumed.inc({ consumer: options.consumer, type: typeLabel(error.eventType), outcome: 'dropped' });
      return 'DROP';
    }
    const log = logger.child({ eventId: event.id, type: event.type });
    if (skips(route, event)) {
      log.debug('event of no concern to this consumer; acknowledged');
      consumed.inc({ consumer: options.consumer, type: event.type, outcome: 'ignored' });
      return 'SUCCESS';
    }
    let applied: boolean;
    try {
      applied = await options.orm.em.fork().transactional(async (em) => {
        const recorded = await em
          .createQueryBuilder(ProcessedEvent)
          .insert({ eventId: event.id, consumer: options.consumer, type: event.type, processedAt: new Date() })
          .onConflict(['eventId', 'consumer'])
          .ignore()
          .execute<{ affectedRows: number }>('run');
        // A concurrent delivery of the same event waits on the row lock here and then sees the conflict.
        if (recorded.affectedRows === 0) return false;
        await route.subscription.handle(event, em);
        return true;
      });
    } catch (error) {
      consumed.inc({ consumer: options.consumer, type: event.type, outcome: 'failed' });
      throw error;
    }
    if (!applied) {
      log.debug('event already processed; acknowledging the redelivery');
      consumed.inc({ consumer: options.consumer, type: event.type, outcome: 'duplicate' });
      redeliveries.inc({ consumer: options.consumer, type: event.type });
      return 'SUCCESS';
    }
    log.debug('event processed');
    consumed.inc({ consumer: options.consumer, type: event.type, outcome: 'processed' });
    if (route.subscription.afterCommit) {
      await route.subscription.afterCommit(event).catch((error: unknown) => log.error({ err: error }, 'follow-up of a processed event failed'));
    }
    return 'SUCCESS';
  }

  const authorized = (request: FastifyRequest): boolean =>
    options.appApiToken === undefined || request.headers['dapr-api-token'] === options.appApiToken;

  await app.register(async (scope) => {
    // Dapr posts application/cloudevents+json; every body is read as text and parsed here, so a
    // malformed one is dropped rather than refused with a 4xx that Dapr would retry.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    scope.get('/dapr/subscribe', async () => subscribe);

    for (const route of routes) {
      scope.post(route.path, async (request: FastifyRequest, reply: FastifyReply) => {
        if (!authorized(request)) return reply.code(401).send({ message: 'a valid dapr-api-token is required' });
        try {
          return { status: await apply(route, request.body) };
        } catch (error) {
          logger.error({ err: error, route: route.path }, 'event handler failed; asking Dapr to retry');
          return reply.code(500).send({ status: 'RETRY' satisfies Outcome });
        }
      });
    }
  });
}
