import type { MessageProviders, VerifierOptions } from '@pact-foundation/pact';
import type { TRPCClient } from '@trpc/client';
import { z } from 'zod';
import { createClientCredentialsTokenSource } from '@agora/auth';
import type { EventType } from '@agora/events';
import { createInternalClient, domainCodeOf } from '@agora/internal-api';
import { startTestSubgraph, type TestSubgraph } from '@agora/testing';
import type { Context } from '../../../subgraphs/payments/src/context.ts';
import { paymentsSettings } from '../../../subgraphs/payments/src/env.ts';
import type { PaymentsRouter } from '../../../subgraphs/payments/src/internal/router.ts';
import { createPaymentsSubgraph } from '../../../subgraphs/payments/src/subgraph.ts';
import { messageOf, outboxEventAbout, stateParam } from '../src/cloud-events.ts';
import { SERVICE_CLIENT } from '../src/service-client.ts';
import { PaymentsState } from '../src/states.ts';

// Payments as a provider, shared by provider-payments.test.ts and breaking-change.test.ts: the
// real service on its own database with the simulated provider's test cards. Provider states
// charge, cancel, refund and confirm through payments' own internal API and provider webhook;
// messages are the CloudEvents of the outbox rows they wrote.

export interface PaymentsProvider {
  subgraph: TestSubgraph<Context>;
  baseUrl: string;
  token: () => Promise<string>;
  stateHandlers: NonNullable<VerifierOptions['stateHandlers']>;
  /** Each payment event a consumer expects: the one the provider state wrote to the outbox for its order. */
  messageProviders: MessageProviders;
  /** The Pact message of the outbox event of `type` that the message's provider state wrote. */
  producedEvent: (type: EventType) => MessageProviders[string];
  close(): Promise<void>;
}

const chargeParams = z.object({
  orderId: z.uuid(),
  userId: z.string().default('5a1f0c1e-0000-4000-8000-000000000001'),
  amount: z.object({ amount: z.number().int().positive(), currency: z.string() }).default({ amount: 16700, currency: 'EUR' }),
});

const reason = 'stock could not be reserved';

export async function startPaymentsProvider(): Promise<PaymentsProvider> {
  // Confirmations of 3-D Secure charges only when a provider state asks for one.
  const module = createPaymentsSubgraph(paymentsSettings({ SIMULATED_PROVIDER_CONFIRMATION: 'manual' }));
  const subgraph = await startTestSubgraph(module);
  const tokens = createClientCredentialsTokenSource({ issuer: subgraph.issuer.issuer, ...SERVICE_CLIENT });
  const token = () => tokens.token();
  const payments: TRPCClient<PaymentsRouter> = createInternalClient<PaymentsRouter>({ url: `http://127.0.0.1:${subgraph.service.port}/trpc`, token });

  /** Forgets the order's payment and the simulated provider's record of it. */
  async function noPayment(params: unknown): Promise<z.infer<typeof chargeParams>> {
    const charge = chargeParams.parse(params);
    const connection = subgraph.service.orm.em.getConnection();
    await connection.execute('delete from "refunds" where "order_id" = ?', [charge.orderId]);
    await connection.execute('delete from "payments" where "order_id" = ?', [charge.orderId]);
    await connection.execute('delete from "simulated_provider_charges" where "reference" = ?', [charge.orderId]);
    return charge;
  }

  /** A fresh charge of the order with a test card, through the internal API. */
  async function charged(params: unknown, paymentMethod: string): Promise<string> {
    const charge = await noPayment(params);
    try {
      await payments.charge.mutate({ ...charge, paymentMethod });
    } catch (error) {
      if (domainCodeOf(error) !== 'PAYMENT_DECLINED') throw error;
    }
    return charge.orderId;
  }

  /** Confirms the simulated provider's charge of the order, which calls payments' webhook. */
  async function confirmed(params: unknown, outcome: 'succeeded' | 'failed'): Promise<void> {
    const orderId = await charged(params, 'pm_card_threeDSecureRequired');
    const result = await module.runtime().simulatedProvider.confirm({ reference: orderId }, outcome);
    if (result.deliveryStatus !== 200) throw new Error(`the provider webhook answered ${String(result.deliveryStatus)}`);
  }

  const producedEvent = (type: EventType) => async (descriptor: Parameters<typeof stateParam>[0]) => messageOf(await outboxEventAbout(subgraph.service.orm, type, stateParam(descriptor, 'orderId')));

  return {
    subgraph,
    baseUrl: `http://127.0.0.1:${subgraph.service.port}`,
    token,
    stateHandlers: {
      [PaymentsState.NO_PAYMENT]: async (params) => {
        await noPayment(params);
      },
      [PaymentsState.CAPTURED]: async (params) => {
        await charged(params, 'pm_card_visa');
      },
      [PaymentsState.AWAITING_CONFIRMATION]: async (params) => {
        await charged(params, 'pm_card_threeDSecureRequired');
      },
      [PaymentsState.CANCELLED]: async (params) => {
        const orderId = await charged(params, 'pm_card_threeDSecureRequired');
        await payments.cancel.mutate({ orderId, reason });
      },
      [PaymentsState.DECLINED]: async (params) => {
        await charged(params, 'pm_card_chargeDeclined');
      },
      [PaymentsState.REFUNDED]: async (params) => {
        const orderId = await charged(params, 'pm_card_visa');
        await payments.refund.mutate({ orderId, reason });
      },
      [PaymentsState.CONFIRMED_LATER]: (params) => confirmed(params, 'succeeded'),
      [PaymentsState.FAILED_LATER]: (params) => confirmed(params, 'failed'),
    },
    messageProviders: {
      'agora.payment.succeeded.v1': producedEvent('agora.payment.succeeded.v1'),
      'agora.payment.failed.v1': producedEvent('agora.payment.failed.v1'),
      'agora.payment.refunded.v1': producedEvent('agora.payment.refunded.v1'),
    },
    producedEvent,
    close: () => subgraph.close(),
  };
}
