import { MatchersV3 } from '@pact-foundation/pact';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOUDEVENT_CONTENT_TYPE, type EventType } from '@agora/events';
import { devUserIds, startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../../../subgraphs/users/src/context.ts';
import type { NotificationSender, OutgoingMessage } from '../../../subgraphs/users/src/modules/notification/notification-sender.ts';
import { Notification, NotificationKind } from '../../../subgraphs/users/src/modules/notification/notification.entity.ts';
import { createUsersSubgraph } from '../../../subgraphs/users/src/subgraph.ts';
import { deliveryOf, eventMetadata } from '../src/cloud-events.ts';
import { consumerContract, type ConsumerContract } from '../src/pact-files.ts';
import { OrdersState, PaymentsState } from '../src/states.ts';

// The users service as a consumer of order and payment events: each Pact message, wrapped in the
// CloudEvent the outbox relay would publish, is posted to the users app's real subscription route
// (catalog validation, dedup, the notification handler) and must become the right notification.

const { eachLike, integer, regex, string, uuid } = MatchersV3;

const ALICE = devUserIds.alice;
const order = (n: number): string => `c0de5000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const PAYMENT = 'c0de6000-0000-4000-8000-000000000001';
const money = (amount: number) => ({ amount: integer(amount), currency: regex('^[A-Z]{3}$', 'EUR') });

class RecordingSender implements NotificationSender {
  readonly sent: OutgoingMessage[] = [];
  async send(message: OutgoingMessage): Promise<void> {
    this.sent.push(message);
  }
}

let subgraph: TestSubgraph<Context>;
beforeAll(async () => {
  const sender = new RecordingSender();
  subgraph = await startTestSubgraph(createUsersSubgraph({ sender: () => sender, deliveryRetryIntervalMs: 60_000 }));
});
afterAll(() => subgraph?.close());

interface EventCase {
  type: EventType;
  state: string;
  params: Record<string, string>;
  content: Record<string, unknown>;
  kind: NotificationKind;
}

/** Receives each case's message through the users app and expects its notification in the user's inbox. */
function receives(contract: ConsumerContract, producer: string, route: string, cases: EventCase[]): void {
  it.each(cases)('notifies the customer of $type', async ({ type, state, params, content, kind }) => {
    await contract.pact
      .addAsynchronousInteraction()
      .given(state, params)
      .expectsToReceive(type, (message) => message.withJSONContent(content).withMetadata(eventMetadata(type, producer)))
      .executeTest(async (message) => {
        const delivery = deliveryOf(message);
        const response = await fetch(new URL(route, subgraph.service.url), { method: 'POST', headers: { 'content-type': CLOUDEVENT_CONTENT_TYPE }, body: JSON.stringify(delivery) });
        expect(await response.json()).toEqual({ status: 'SUCCESS' });
        const notification = await subgraph.service.orm.em.fork().findOne(Notification, { eventId: String(delivery['id']) });
        expect(notification).toMatchObject({ userId: ALICE, kind, orderId: params['orderId'] });
      });
  });
}

describe('users ← orders', () => {
  const contract = consumerContract('users', 'orders');
  const about = (n: number) => ({ orderId: order(n), userId: ALICE });
  const base = (n: number) => ({ orderId: uuid(order(n)), userId: string(ALICE) });
  receives(contract, 'orders', '/events/orders', [
    {
      type: 'agora.order.placed.v1',
      state: OrdersState.PLACED,
      params: about(1),
      content: { ...base(1), total: money(16700), lines: eachLike({ productId: uuid('c0de1000-0000-4000-8000-000000000001'), quantity: integer(1), unitPrice: money(8900) }) },
      kind: NotificationKind.ORDER_PLACED,
    },
    { type: 'agora.order.confirmed.v1', state: OrdersState.CONFIRMED, params: about(2), content: { ...base(2), total: money(16700) }, kind: NotificationKind.ORDER_CONFIRMED },
    {
      type: 'agora.order.cancelled.v1',
      state: OrdersState.CANCELLED,
      params: { ...about(3), reason: 'payment declined' },
      content: { ...base(3), reason: string('payment declined') },
      kind: NotificationKind.ORDER_CANCELLED,
    },
    {
      type: 'agora.order.needs-attention.v1',
      state: OrdersState.NEEDS_ATTENTION,
      params: about(4),
      content: { ...base(4), step: string('release-stock'), error: string('release-stock kept failing') },
      kind: NotificationKind.ORDER_NEEDS_ATTENTION,
    },
  ]);
  it('keeps pacts/users-orders.json current', () => contract.settle());
});

describe('users ← payments', () => {
  const contract = consumerContract('users', 'payments');
  const charge = (n: number) => ({ orderId: order(n), userId: ALICE });
  const payment = (n: number) => ({ paymentId: uuid(PAYMENT), orderId: uuid(order(n)), userId: string(ALICE), amount: money(16700) });
  receives(contract, 'payments', '/events/payments', [
    { type: 'agora.payment.succeeded.v1', state: PaymentsState.CAPTURED, params: charge(11), content: payment(11), kind: NotificationKind.PAYMENT_SUCCEEDED },
    { type: 'agora.payment.failed.v1', state: PaymentsState.DECLINED, params: charge(12), content: { ...payment(12), reason: string('card_declined') }, kind: NotificationKind.PAYMENT_FAILED },
    { type: 'agora.payment.refunded.v1', state: PaymentsState.REFUNDED, params: charge(13), content: payment(13), kind: NotificationKind.PAYMENT_REFUNDED },
  ]);
  it('keeps pacts/users-payments.json current', () => contract.settle());
});
