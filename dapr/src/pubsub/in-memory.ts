import { randomUUID } from 'node:crypto';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { ComponentInput } from '../components/registry.ts';
import type { DeliveryOutcome, PubSub, PublishedMessage, ReceivedMessage, SubscribeOptions, Subscription } from './pubsub.ts';

// pubsub.in-memory: a broker in the sidecar's process. Unlike daprd's (one per sidecar), every
// sidecar of the process shares the broker of a component name, because the launcher hosts all
// apps' sidecars in one process (docs/adr/0006-local-sidecar.md). Each consumer group (app id)
// gets every message once and its subscribers share them; a message whose handler asks for a
// retry is redelivered with backoff for as long as the process lives. As in daprd, a message
// published to a topic no group has subscribed to yet reaches nobody.

/** Backoff between redeliveries of one message. */
const REDELIVERY = new ExponentialBackoff({ initialDelay: 100, maxDelay: 10_000 });

interface Pending {
  message: ReceivedMessage;
  backoff: IBackoff<unknown> | undefined;
}

class ConsumerGroup {
  readonly #queue: Pending[] = [];
  readonly #idle = new Set<() => void>();
  readonly #timers = new Set<NodeJS.Timeout>();

  enqueue(pending: Pending): void {
    this.#queue.push(pending);
    for (const wake of this.#idle) wake();
  }

  take(): Pending | undefined {
    return this.#queue.shift();
  }

  /** Resolves when a message is queued, or when `wakeOnClose` is called. */
  idle(register: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#idle.delete(wake);
        resolve();
      };
      this.#idle.add(wake);
      register(wake);
    });
  }

  redeliverLater(pending: Pending): void {
    const backoff = pending.backoff ? pending.backoff.next(undefined) : REDELIVERY.next();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.enqueue({ message: pending.message, backoff });
    }, backoff.duration);
    timer.unref();
    this.#timers.add(timer);
  }

  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#queue.length = 0;
  }
}

class Broker {
  readonly groups = new Map<string, Map<string, ConsumerGroup>>();
  users = 0;

  group(topic: string, name: string): ConsumerGroup {
    const byName = this.groups.get(topic) ?? new Map<string, ConsumerGroup>();
    this.groups.set(topic, byName);
    const group = byName.get(name) ?? new ConsumerGroup();
    byName.set(name, group);
    return group;
  }
}

const brokers = new Map<string, Broker>();

/** One subscriber: takes messages from its group one at a time until closed. */
function consume(group: ConsumerGroup, handler: (message: ReceivedMessage) => Promise<DeliveryOutcome>): Subscription {
  const state: { closed: boolean; wakeIdle: (() => void) | undefined } = { closed: false, wakeIdle: undefined };
  const loop = (async () => {
    while (!state.closed) {
      const pending = group.take();
      if (!pending) {
        await group.idle((wake) => (state.wakeIdle = wake));
        continue;
      }
      const outcome = await handler(pending.message).catch((): DeliveryOutcome => 'retry');
      if (outcome === 'retry') group.redeliverLater(pending);
    }
  })();
  return {
    async close() {
      state.closed = true;
      state.wakeIdle?.();
      await loop;
    },
  };
}

export class InMemoryPubSub implements PubSub {
  readonly name: string;
  readonly #broker: Broker;
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(name: string) {
    this.name = name;
    this.#broker = brokers.get(name) ?? new Broker();
    brokers.set(name, this.#broker);
    this.#broker.users += 1;
  }

  async publish(message: PublishedMessage): Promise<void> {
    if (this.#closed) throw new Error(`pubsub ${this.name} is closed`);
    for (const group of this.#broker.groups.get(message.topic)?.values() ?? []) {
      const received: ReceivedMessage = { id: randomUUID(), topic: message.topic, data: Buffer.from(message.data), contentType: message.contentType, metadata: { ...message.metadata } };
      group.enqueue({ message: received, backoff: undefined });
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new Error(`pubsub ${this.name} is closed`);
    const consumer = consume(this.#broker.group(options.topic, options.consumerGroup), options.handler);
    const subscription: Subscription = {
      close: async () => {
        this.#subscriptions.delete(subscription);
        await consumer.close();
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new Error(`pubsub ${this.name} is closed`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    this.#broker.users -= 1;
    if (this.#broker.users > 0) return;
    for (const groups of this.#broker.groups.values()) for (const group of groups.values()) group.clear();
    brokers.delete(this.name);
  }
}

export async function inMemoryPubSub(input: ComponentInput): Promise<PubSub> {
  return new InMemoryPubSub(input.name);
}
