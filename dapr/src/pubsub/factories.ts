import type { ComponentFactory, ComponentInput } from '../components/registry.ts';
import { inMemoryPubSub } from './in-memory.ts';
import { TopicNotAllowedError, type PubSub } from './pubsub.ts';
import { redisStreamsPubSub } from './redis-streams.ts';

// daprd's topic scoping (https://docs.dapr.io/developing-applications/building-blocks/pubsub/pubsub-scopes/),
// read from any pub/sub component's metadata: `allowedTopics` limits the topics of every app,
// `publishingScopes` / `subscriptionScopes` ("app1=t1,t2;app2=t3") limit one app's, and a topic
// in `protectedTopics` needs an explicit scope.

function metadataValue(metadata: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(metadata).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : metadata[key];
}

const topicList = (value: string | undefined): string[] => (value ? [...new Set(value.replaceAll(' ', '').split(','))] : []);

/** The topics `scopes` grants to `appId`; an empty list means no scope applies to the app. */
function scopedTopics(scopes: string | undefined, appId: string): string[] {
  const topics = new Set<string>();
  for (const entry of (scopes ?? '').replaceAll(' ', '').split(';')) {
    const [app, list, ...rest] = entry.split('=');
    if (app !== appId || list === undefined || rest.length > 0) continue;
    for (const topic of list.split(',')) topics.add(topic);
  }
  return [...topics];
}

/** daprd's IsOperationAllowed. */
function allowed(topic: string, allowedTopics: string[], protectedTopics: string[], scoped: string[]): boolean {
  if (allowedTopics.length > 0 && !allowedTopics.includes(topic)) return false;
  if (!protectedTopics.includes(topic) && scoped.length === 0) return true;
  return scoped.includes(topic);
}

function withTopicScopes(pubsub: PubSub, { metadata, appId }: ComponentInput): PubSub {
  const allowedTopics = topicList(metadataValue(metadata, 'allowedTopics'));
  const protectedTopics = topicList(metadataValue(metadata, 'protectedTopics'));
  const publishing = scopedTopics(metadataValue(metadata, 'publishingScopes'), appId);
  const subscribing = scopedTopics(metadataValue(metadata, 'subscriptionScopes'), appId);
  if (allowedTopics.length === 0 && protectedTopics.length === 0 && publishing.length === 0 && subscribing.length === 0) return pubsub;
  return {
    name: pubsub.name,
    async publish(message) {
      if (!allowed(message.topic, allowedTopics, protectedTopics, publishing)) throw new TopicNotAllowedError(`topic ${message.topic} is not allowed for app id ${appId}`);
      return pubsub.publish(message);
    },
    async subscribe(options) {
      if (!allowed(options.topic, allowedTopics, protectedTopics, subscribing)) {
        throw new TopicNotAllowedError(`subscription to topic '${options.topic}' on pubsub '${pubsub.name}' is not allowed`);
      }
      return pubsub.subscribe(options);
    },
    ping: () => pubsub.ping(),
    close: () => pubsub.close(),
  };
}

const scoped =
  (create: ComponentFactory<PubSub>): ComponentFactory<PubSub> =>
  async (input) =>
    withTopicScopes(await create(input), input);

/** Pub/sub component types by `spec.type`. */
export const pubsubFactories: Record<string, ComponentFactory<PubSub>> = {
  'pubsub.redis': scoped(redisStreamsPubSub),
  'pubsub.in-memory': scoped(inMemoryPubSub),
};
