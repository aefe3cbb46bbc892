import type { Logger } from '@agora/service';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import type { SidecarContext } from '../context.ts';
import type { PubSub, Subscription } from '../pubsub/pubsub.ts';
import { NonRetriableError, untilAborted } from '../resiliency/resiliency.ts';
import { deliver } from './delivery.ts';
import { declarativeRoutes, fetchProgrammaticRoutes, mergeRoutes, type SubscriptionRoute } from './subscriptions.ts';

// The app channel's pub/sub side: once the app answers on its port, gather the subscriptions
// (declarative resources and the app's GET /dapr/subscribe), subscribe each pubsub/topic in the
// consumer group of this app id, and deliver every message through delivery.ts under the
// component's inbound resiliency policy.

export interface SubscriptionInfo {
  pubsubname: string;
  topic: string;
  deadLetterTopic: string | undefined;
  metadata: Record<string, string>;
  rules: { match: string; path: string }[];
  type: 'PROGRAMMATIC' | 'DECLARATIVE';
}

export interface AppChannel {
  /** The subscriptions in effect (declarative and from the app's GET /dapr/subscribe). */
  subscriptions(): SubscriptionInfo[];
  close(): Promise<void>;
}

/** How long close() lets deliveries already posted to the app finish before aborting them. */
const DRAIN_TIMEOUT_MS = 5_000;

interface ActiveSubscription {
  route: SubscriptionRoute;
  subscription: Subscription;
}

const infoOf = (route: SubscriptionRoute): SubscriptionInfo => ({
  pubsubname: route.pubsubName,
  topic: route.topic,
  deadLetterTopic: route.deadLetterTopic,
  metadata: route.metadata,
  rules: route.rules.map(({ match, path }) => ({ match, path })),
  type: route.type,
});

interface ChannelState {
  context: SidecarContext & { app: { port: number } };
  stop: AbortSignal;
  drain: AbortSignal;
  active: ActiveSubscription[];
}

/** Subscribes one route, retrying with backoff while the component cannot (e.g. Redis unreachable). */
async function subscribeRoute(state: ChannelState, pubsub: PubSub, route: SubscriptionRoute, logger: Logger): Promise<void> {
  const { context, stop, drain } = state;
  const delivery = {
    app: context.app,
    pubsub,
    route,
    inbound: context.resiliency.forComponentInbound(route.pubsubName, 'Pubsub'),
    outbound: context.resiliency.forComponentOutbound(route.pubsubName, 'Pubsub'),
    stop,
    drain,
    logger,
  };
  const options = { topic: route.topic, consumerGroup: context.appId, handler: deliver.bind(undefined, delivery) };
  const policy = retry(
    handleWhen((error) => !(error instanceof NonRetriableError)),
    { maxAttempts: Number.POSITIVE_INFINITY, backoff: new ExponentialBackoff({ initialDelay: 1_000, maxDelay: 30_000 }) },
  ).dangerouslyUnref();
  policy.onRetry((event) => logger.warn({ retryInMs: Math.round(event.delay), error: 'error' in event ? String(event.error) : undefined }, 'could not subscribe; retrying'));
  let attempt: Promise<Subscription> | undefined;
  try {
    const subscription = await untilAborted(
      policy.execute(({ signal }) => {
        signal.throwIfAborted();
        attempt = pubsub.subscribe(options);
        return attempt;
      }, stop),
      stop,
    );
    state.active.push({ route, subscription });
    logger.info({ rules: route.rules.map((rule) => rule.path), deadLetterTopic: route.deadLetterTopic, type: route.type }, 'subscribed');
  } catch (error) {
    if (stop.aborted) {
      // An attempt that succeeds as the channel closes must not leave a subscription behind.
      const late = await attempt?.catch(() => undefined);
      await late?.close();
      return;
    }
    logger.error({ error: String(error) }, 'could not subscribe');
  }
}

async function subscribeAll(state: ChannelState): Promise<void> {
  const { context, stop } = state;
  // As daprd: without a pub/sub component there is nothing to subscribe to, and the app is not asked.
  if (context.pubsubs.size === 0) return;
  const declarative = declarativeRoutes(context.resources.subscriptions, context.logger);
  await untilAborted(context.appReady(), stop);
  const programmatic = await fetchProgrammaticRoutes(context.app, context.appId, stop, context.logger);
  const subscribing = mergeRoutes(declarative, programmatic).map((route) => {
    const logger = context.logger.child({ pubsub: route.pubsubName, topic: route.topic });
    const pubsub = context.pubsubs.get(route.pubsubName);
    if (!pubsub) {
      logger.warn({ origin: route.origin }, `subscription refers to pubsub ${route.pubsubName}, which is not loaded for this app; ignoring it`);
      return Promise.resolve();
    }
    return subscribeRoute(state, pubsub, route, logger);
  });
  await Promise.all(subscribing);
}

/**
 * Starts the app channel without waiting for the app: subscriptions begin in the background once
 * the app answers. Without an app port there is nothing to deliver to, hence no subscription.
 */
export async function startAppChannel(context: SidecarContext): Promise<AppChannel> {
  const { port } = context.app;
  if (port === undefined) return { subscriptions: () => [], close: async () => undefined };
  const stop = new AbortController();
  const drain = new AbortController();
  const state: ChannelState = { context: { ...context, app: { ...context.app, port } }, stop: stop.signal, drain: drain.signal, active: [] };
  const started = subscribeAll(state).catch((error: unknown) => {
    if (!stop.signal.aborted) context.logger.error({ error: String(error) }, 'could not set up the subscriptions to the app');
  });
  let closing: Promise<void> | undefined;
  return {
    subscriptions: () => state.active.map(({ route }) => infoOf(route)),
    close: () => {
      closing ??= (async () => {
        stop.abort(new Error('the app channel is closing'));
        const drainTimer = setTimeout(() => drain.abort(new Error('the app channel closed')), DRAIN_TIMEOUT_MS);
        await started;
        await Promise.allSettled(state.active.map(({ subscription }) => subscription.close()));
        clearTimeout(drainTimer);
        drain.abort();
      })();
      return closing;
    },
  };
}
