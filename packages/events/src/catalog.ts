import { z } from 'zod';

// Every domain event Agora publishes: CloudEvents `type` → the topic it goes to and the schema of
// its `data`. Producers validate before writing to the outbox; consumers validate on receipt.
// One schema per type, shared by both sides (and by the Pact message contracts).

const money = z.object({ amount: z.number().int().nonnegative(), currency: z.string().length(3) });
const uuid = z.uuid();

const orderLine = z.object({ productId: uuid, quantity: z.number().int().positive(), unitPrice: money });
/**
 * A payment outcome reached after the payment waited for the customer's confirmation (3-D Secure):
 * true; the answer to the charge itself: false. Absent from producers older than the field.
 */
const awaitedConfirmation = z.boolean().optional();

export const eventCatalog = {
  'agora.order.placed.v1': { topic: 'orders', data: z.object({ orderId: uuid, userId: z.string().min(1), total: money, lines: z.array(orderLine).min(1) }) },
  'agora.order.confirmed.v1': { topic: 'orders', data: z.object({ orderId: uuid, userId: z.string().min(1), total: money }) },
  'agora.order.cancelled.v1': { topic: 'orders', data: z.object({ orderId: uuid, userId: z.string().min(1), reason: z.string() }) },
  'agora.order.needs-attention.v1': { topic: 'orders', data: z.object({ orderId: uuid, userId: z.string().min(1), step: z.string(), error: z.string() }) },
  'agora.payment.succeeded.v1': { topic: 'payments', data: z.object({ paymentId: uuid, orderId: uuid, userId: z.string().min(1), amount: money, awaitedConfirmation }) },
  'agora.payment.failed.v1': { topic: 'payments', data: z.object({ paymentId: uuid, orderId: uuid, userId: z.string().min(1), amount: money, reason: z.string(), awaitedConfirmation }) },
  'agora.payment.refunded.v1': { topic: 'payments', data: z.object({ paymentId: uuid, orderId: uuid, userId: z.string().min(1), amount: money }) },
  'agora.stock.reserved.v1': { topic: 'inventory', data: z.object({ orderId: uuid, productId: uuid, quantity: z.number().int().positive() }) },
  'agora.stock.released.v1': { topic: 'inventory', data: z.object({ orderId: uuid, productId: uuid, quantity: z.number().int().positive(), reason: z.string() }) },
  'agora.stock.low.v1': { topic: 'inventory', data: z.object({ productId: uuid, sku: z.string(), available: z.number().int().nonnegative(), threshold: z.number().int().nonnegative() }) },
} as const;

export type EventType = keyof typeof eventCatalog;
export type EventData<T extends EventType> = z.infer<(typeof eventCatalog)[T]['data']>;
export type EventTopic = (typeof eventCatalog)[EventType]['topic'];

/** The Dapr pub/sub component every service publishes to and subscribes from (components/pubsub.yaml). */
export const PUBSUB_NAME = 'pubsub';

export const isEventType = (type: string): type is EventType => Object.hasOwn(eventCatalog, type);

/** Validates an event's data against its schema; throws a ZodError naming the bad fields. */
export function parseEventData<T extends EventType>(type: T, data: unknown): EventData<T> {
  return eventCatalog[type].data.parse(data) as EventData<T>;
}
