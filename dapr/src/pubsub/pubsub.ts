import { NonRetriableError } from '../resiliency/resiliency.ts';

// The contract every pub/sub component implements. Publishing wraps data in CloudEvents in
// pubsub/publish-api.ts; delivery to the app is app-channel/'s job.

export interface PublishedMessage {
  topic: string;
  /** The bytes to carry: a CloudEvent JSON envelope, or the raw payload with rawPayload. */
  data: Buffer;
  contentType: string;
  metadata: Record<string, string>;
}

export interface ReceivedMessage {
  id: string;
  topic: string;
  data: Buffer;
  contentType: string;
  metadata: Record<string, string>;
}

/** What the handler decided: acknowledged (success or drop) or to be redelivered later. */
export type DeliveryOutcome = 'ack' | 'retry';

export interface SubscribeOptions {
  topic: string;
  /** Consumer group; messages are shared among subscribers of one group (one app id). */
  consumerGroup: string;
  handler: (message: ReceivedMessage) => Promise<DeliveryOutcome>;
}

/** The component's `publishingScopes`/`subscriptionScopes`/`allowedTopics`/`protectedTopics` deny this app the topic. */
export class TopicNotAllowedError extends NonRetriableError {
  override name = 'TopicNotAllowedError';
}

export interface Subscription {
  /** Stops receiving and waits for the handlers in progress (their outcomes still apply). */
  close(): Promise<void>;
}

export interface PubSub {
  readonly name: string;
  /** Throws TopicNotAllowedError when this app may not publish to the topic. */
  publish(message: PublishedMessage): Promise<void>;
  /** Throws TopicNotAllowedError when this app may not subscribe to the topic. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
