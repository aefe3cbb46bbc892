import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { MessageDescriptor, MessageFromProviderWithMetadata } from '@pact-foundation/pact';
// Not re-exported from the package's entry point.
import type { AsynchronousMessage } from '@pact-foundation/pact/src/v4/message/types.js';
import { eventCatalog, OutboxEvent, PUBSUB_NAME, toCloudEvent, type EventType, type OutboxEventEntity } from '@agora/events';

// Message pacts of Agora's domain events (docs/adr/0011-events-outbox.md). The message content
// is the CloudEvent's `data`, which the consumer checks against the catalog schema; the metadata
// holds the attributes consumers route on: `type`, `source`, the Dapr `topic`, the content type.

/** The metadata a consumer expects with an event of `type` from `service`. */
export const eventMetadata = (type: EventType, service: string): Record<string, string> => ({
  type,
  source: `agora/${service}`,
  topic: eventCatalog[type].topic,
  contentType: 'application/json',
});

/**
 * What a consumer's route receives for a Pact message: the structured CloudEvent the outbox relay
 * would publish for it (built by the relay's own toCloudEvent), as Dapr delivers it.
 */
export function deliveryOf(message: AsynchronousMessage): Record<string, unknown> {
  const { type = '', source = '', topic = '' } = message.metadata as Record<string, string | undefined>;
  const row: OutboxEventEntity = {
    id: randomUUID(),
    type,
    topic,
    source,
    subject: null,
    data: message.contents.content as Record<string, unknown>,
    createdAt: new Date(),
    sentAt: null,
    publishAttempts: 0,
    traceparent: null,
  };
  return { ...toCloudEvent(row), topic, pubsubname: PUBSUB_NAME };
}

/** The Pact message of an outbox row, from the CloudEvent the relay publishes for it. */
export function messageOf(row: OutboxEventEntity): MessageFromProviderWithMetadata {
  const event = toCloudEvent(row);
  const text = (name: string): string => (typeof event[name] === 'string' ? event[name] : '');
  return { __pactMessageMetadata: { type: text('type'), source: text('source'), topic: row.topic, contentType: text('datacontenttype') }, message: event['data'] };
}

/** The newest outbox event of `type` about an order, as the provider state left it. */
export async function outboxEventAbout(orm: MikroORM, type: EventType, orderId: string): Promise<OutboxEventEntity> {
  const em = orm.em.fork();
  const [found] = await em.execute<{ id: string }[]>(`select "id" from "outbox_events" where "type" = ? and "data"->>'orderId' = ? order by "created_at" desc limit 1`, [type, orderId]);
  if (!found) throw new Error(`no ${type} event about order ${orderId} in the outbox: the provider state produced none`);
  return em.findOneOrFail(OutboxEvent, { id: found.id });
}

/** A string parameter of the message's provider state. */
export function stateParam(descriptor: MessageDescriptor, name: string): string {
  const value = descriptor.providerStates?.[0]?.params?.[name];
  if (typeof value !== 'string') throw new Error(`message "${descriptor.description}" has no provider state parameter ${name}`);
  return value;
}
