import type { WorkflowActivityContext } from '@dapr/dapr';
import { SpanStatusCode } from '@opentelemetry/api';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { TRPCClient } from '@trpc/client';
import { enqueueEvent } from '@agora/events';
import { domainCodeOf, failureMessageOf } from '@agora/internal-api';
import type { Logger } from '@agora/service';
import { inSpan } from '@agora/telemetry';
import type { InventoryRouter } from '../../../inventory/src/internal/router.ts';
import type { PaymentsRouter } from '../../../payments/src/internal/router.ts';
import { Order, OrderStatus, type OrderEntity } from '../modules/order/order.entity.ts';
import { SagaStepStatus } from '../modules/saga/saga-step.entity.ts';
import { Activity, type ChargeInput, type ChargeResult, type EscalationInput, type Outcome, type ReasonInput, type ReserveInput, type StepInput } from './contract.ts';
import { sagaMetrics } from './saga-metrics.ts';

// The OrderSaga's activities: each calls one participant command (idempotent by order id and
// step, so a re-run after a crash changes nothing twice) or changes the order in this service's
// database, records its step in saga_steps (a change to the order in the same transaction), and
// reports an Outcome instead of throwing.

export interface ActivityDeps {
  orm: MikroORM;
  inventory: TRPCClient<InventoryRouter>;
  payments: TRPCClient<PaymentsRouter>;
  logger: Logger;
}

/** Participant refusals that retrying cannot change. */
const REJECTIONS = new Set(['OUT_OF_STOCK', 'PAYMENT_DECLINED', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED', 'FORBIDDEN']);

function failureOf(error: unknown): Outcome<never> {
  const code = domainCodeOf(error);
  const message = failureMessageOf(error);
  return { ok: false, rejected: code !== undefined && REJECTIONS.has(code), code, message };
}

const COMPENSATIONS = new Set<string>([Activity.CANCEL_PAYMENT, Activity.RELEASE_STOCK, Activity.CANCEL_ORDER, Activity.ESCALATE]);

// A step's row in saga_steps: a re-run counts another attempt and keeps the first start. now() is
// the transaction's start.
const STEP_STARTED = `insert into saga_steps (order_id, name, compensation, status, attempts, started_at) values (?, ?, ?, 'RUNNING', 1, now())
  on conflict (order_id, name) do update set attempts = saga_steps.attempts + 1, status = 'RUNNING', ended_at = null, error = null`;
const STEP_ENDED = 'update saga_steps set status = ?, ended_at = now(), error = ? where order_id = ? and name = ?';
const STEP_DONE = `insert into saga_steps (order_id, name, compensation, status, error, attempts, started_at, ended_at) values (?, ?, ?, ?, ?, 1, now(), clock_timestamp())
  on conflict (order_id, name) do update set attempts = saga_steps.attempts + 1, status = excluded.status, error = excluded.error, ended_at = excluded.ended_at`;

/** A step's recorded status and error, from its outcome. */
const statusOf = (outcome: Outcome<unknown>) => (outcome.ok ? SagaStepStatus.SUCCEEDED : outcome.rejected ? SagaStepStatus.REJECTED : SagaStepStatus.FAILED);
const errorOf = (outcome: Outcome<unknown>) => (outcome.ok ? null : outcome.message);

/** An activity as the runtime registers it: its input is whatever the workflow scheduled it with (contract.ts). */
type ActivityFunction = (context: WorkflowActivityContext, input: unknown) => Promise<unknown>;

const activity =
  <I>(run: (input: I) => Promise<unknown>): ActivityFunction =>
  (_context, input) =>
    run(input as I);

export function createActivities(deps: ActivityDeps): Record<string, ActivityFunction> {
  const { orm, inventory, payments, logger } = deps;

  /**
   * Runs one step: `run` does its work, records it in saga_steps and never throws. Its span
   * continues the saga's trace (the engine runs activities from its work stream, outside any
   * request), so the participant calls and queries it makes join the order's trace.
   */
  async function step<T>(activity: string, input: StepInput, run: () => Promise<Outcome<T>>): Promise<Outcome<T>> {
    const attributes = { 'workflow.name': 'OrderSaga', 'workflow.activity': activity, 'workflow.instance_id': input.orderId, 'saga.step': input.step };
    return inSpan(`activity ${activity}`, { parent: input.traceparent ?? null, attributes }, async (span) => {
      const started = performance.now();
      const outcome = await run();
      const result = outcome.ok ? 'ok' : outcome.rejected ? 'rejected' : 'failed';
      span.setAttribute('saga.outcome', result);
      if (!outcome.ok && !outcome.rejected) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.message });
      sagaMetrics.activity(activity, result, (performance.now() - started) / 1000, input.traceparent);
      if (outcome.ok) logger.info({ orderId: input.orderId, step: input.step }, 'saga step succeeded');
      else logger.warn({ orderId: input.orderId, step: input.step, code: outcome.code, error: outcome.message }, 'saga step failed');
      return outcome;
    });
  }

  /** A step that calls a participant: its row says RUNNING while the call is in flight. */
  function participantStep<T>(activity: string, input: StepInput, call: () => Promise<Outcome<T>>): Promise<Outcome<T>> {
    return step(activity, input, async () => {
      const connection = orm.em.getConnection();
      await connection.execute(STEP_STARTED, [input.orderId, input.step, COMPENSATIONS.has(activity)]);
      let outcome: Outcome<T>;
      try {
        outcome = await call();
      } catch (error) {
        outcome = failureOf(error);
      }
      await connection.execute(STEP_ENDED, [statusOf(outcome), errorOf(outcome), input.orderId, input.step]).catch((error: unknown) => stepNotRecorded(error, input));
      return outcome;
    });
  }

  /**
   * A step that changes only the order: the order, its outbox events and the step's row are
   * written in one transaction (`change` answers the outcome). When that transaction fails, the
   * failure is recorded on its own.
   */
  function orderStep<T>(activity: string, input: StepInput, change: (order: OrderEntity, em: EntityManager) => Outcome<T> | Promise<Outcome<T>>): Promise<Outcome<T>> {
    const row = (outcome: Outcome<T>) => [input.orderId, input.step, COMPENSATIONS.has(activity), statusOf(outcome), errorOf(outcome)];
    return step(activity, input, async () => {
      try {
        const outcome = await orm.em.fork().transactional(async (em) => {
          const order = await em.findOne(Order, { id: input.orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
          const result: Outcome<T> = order ? await change(order, em) : { ok: false, rejected: true, code: 'NOT_FOUND', message: `order ${input.orderId} does not exist` };
          await em.execute(STEP_DONE, row(result));
          return result;
        });
        return outcome;
      } catch (error) {
        const outcome = failureOf(error);
        await orm.em.getConnection().execute(STEP_DONE, row(outcome)).catch((recordError: unknown) => stepNotRecorded(recordError, input));
        return outcome;
      }
    });
  }

  const stepNotRecorded = (error: unknown, input: StepInput) => logger.warn({ err: error, orderId: input.orderId, step: input.step }, 'could not record a saga step result');

  const money = (order: OrderEntity) => ({ amount: order.totalAmount, currency: order.currency });

  return {
    [Activity.RESERVE_STOCK]: activity((input: ReserveInput) =>
      participantStep(Activity.RESERVE_STOCK, input, async () => {
        const reservation = await inventory.reserve.mutate({ orderId: input.orderId, productId: input.productId, quantity: input.quantity });
        return { ok: true, value: reservation.reservationId };
      }),),

    [Activity.CHARGE_PAYMENT]: activity((input: ChargeInput) =>
      participantStep<ChargeResult>(Activity.CHARGE_PAYMENT, input, async () => {
        const payment = await payments.charge.mutate({ orderId: input.orderId, userId: input.userId, amount: input.amount, paymentMethod: input.paymentMethod });
        return { ok: true, value: { paymentId: payment.paymentId, status: payment.status } };
      }),),

    // The order.confirmed event (the customer's confirmation notice, through the users service)
    // commits with the status change, so a re-run, which finds the order CONFIRMED, writes none.
    [Activity.CONFIRM_ORDER]: activity((input: StepInput) =>
      orderStep(Activity.CONFIRM_ORDER, input, (order, em) => {
        if (order.status === OrderStatus.CONFIRMED) return { ok: true, value: order.status };
        if (order.status !== OrderStatus.PENDING) return { ok: false, rejected: true, code: 'CONFLICT', message: `order ${order.id} is ${order.status}` };
        order.status = OrderStatus.CONFIRMED;
        enqueueEvent(em, { type: 'agora.order.confirmed.v1', service: 'orders', subject: order.id, data: { orderId: order.id, userId: order.customerId, total: money(order) } });
        return { ok: true, value: order.status };
      }),
    ),

    [Activity.COMMIT_STOCK]: activity((input: StepInput) =>
      participantStep(Activity.COMMIT_STOCK, input, async () => ({ ok: true, value: (await inventory.commit.mutate({ orderId: input.orderId })).committed })),),

    [Activity.CANCEL_PAYMENT]: activity((input: ReasonInput) =>
      participantStep(Activity.CANCEL_PAYMENT, input, async () => ({ ok: true, value: (await payments.cancel.mutate({ orderId: input.orderId, reason: input.reason })).status })),),

    [Activity.RELEASE_STOCK]: activity((input: ReasonInput) =>
      participantStep(Activity.RELEASE_STOCK, input, async () => ({ ok: true, value: (await inventory.release.mutate({ orderId: input.orderId, reason: input.reason })).released })),),

    [Activity.CANCEL_ORDER]: activity((input: ReasonInput) =>
      orderStep(Activity.CANCEL_ORDER, input, (order, em) => {
        if (order.status === OrderStatus.CANCELLED) return { ok: true, value: order.status };
        if (order.status === OrderStatus.CONFIRMED) return { ok: false, rejected: true, code: 'CONFLICT', message: `order ${order.id} is already confirmed` };
        order.status = OrderStatus.CANCELLED;
        order.statusReason = input.reason;
        enqueueEvent(em, { type: 'agora.order.cancelled.v1', service: 'orders', subject: order.id, data: { orderId: order.id, userId: order.customerId, reason: input.reason } });
        return { ok: true, value: order.status };
      }),
    ),

    [Activity.ESCALATE]: activity((input: EscalationInput) =>
      orderStep(Activity.ESCALATE, input, (order, em) => {
        if (order.status === OrderStatus.NEEDS_ATTENTION) return { ok: true, value: order.status };
        order.status = OrderStatus.NEEDS_ATTENTION;
        order.statusReason = input.reason;
        const stepName = input.reason.split(' ')[0] ?? 'unknown';
        enqueueEvent(em, { type: 'agora.order.needs-attention.v1', service: 'orders', subject: order.id, data: { orderId: order.id, userId: order.customerId, step: stepName, error: input.error ?? input.reason } });
        logger.error({ orderId: order.id, reason: input.reason, error: input.error }, 'order needs attention: a compensation keeps failing');
        return { ok: true, value: order.status };
      }),
    ),
  };
}
