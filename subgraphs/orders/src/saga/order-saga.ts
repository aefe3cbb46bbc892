import type { Task, WorkflowContext } from '@dapr/dapr';
import { Activity, customerReason, SagaEvent, type ChargeResult, type Outcome, type SagaInput, type SagaResult, type StepInput } from './contract.ts';
import { sagaMetrics, type SagaOutcome } from './saga-metrics.ts';

// The OrderSaga workflow (docs/adr/0011-order-saga.md). Deterministic: it decides only from its
// input and the results in its history; all effects happen in activities.
//
//   1. reserve stock for every line, in parallel        compensation: release stock
//   2. charge the payment (maybe wait for confirmation)  compensation: cancel or refund it
//   3. confirm the order (its agora.order.confirmed.v1 event, which the users service turns into
//      the customer's notification, commits with it), then commit the reservations
//
// On a rejection, a timeout or a cancellation request, completed steps are compensated in
// reverse and the order is cancelled. A compensation that keeps failing escalates: the order
// becomes NEEDS_ATTENTION and an alert event goes out.

interface StepPolicy {
  /**
   * `step`: the step timeout bounds all attempts together, so transient failures (a participant
   * restarting, an open breaker) are retried until it passes, and then the saga compensates.
   * `attempt`: each attempt gets the full timeout and a timed-out attempt is retried too
   * (compensations: they must happen).
   */
  deadline: 'step' | 'attempt';
  /** Attempts before the step counts as failed. */
  attempts: number;
  /** Backoff before attempt n+1: backoffSeconds × 2^(n-1), at most maxBackoffSeconds, on durable timers. */
  backoffSeconds: number;
  maxBackoffSeconds: number;
}

const FORWARD: StepPolicy = { deadline: 'step', attempts: Number.POSITIVE_INFINITY, backoffSeconds: 0.5, maxBackoffSeconds: 5 };
const COMPENSATION: StepPolicy = { deadline: 'attempt', attempts: 8, backoffSeconds: 1, maxBackoffSeconds: 30 };

type Failure = Extract<Outcome<unknown>, { ok: false }>;

class StepFailed extends Error {
  readonly failure: Failure;
  constructor(step: string, failure: Failure) {
    super(`${step}: ${customerReason(failure)}`);
    this.failure = failure;
  }
}

/**
 * Runs a step under its policy: its activities (one, or several in parallel) race the timeout;
 * technical failures are retried with capped exponential backoff; a rejection ends the step.
 * Time is the workflow's own clock, so a replay decides the same. The SDK's composite tasks do
 * not nest (a whenAll inside a whenAny never completes it), so the parallel wait is a loop of
 * whenAny over the activities still running and the timer.
 */
async function* runStep<T>(context: WorkflowContext, name: string, policy: StepPolicy, timeoutSeconds: number, start: () => Task<Outcome<unknown>>[]): AsyncGenerator<unknown, Outcome<T>, unknown> {
  const startedAt = context.getCurrentUtcDateTime().getTime();
  const elapsedSeconds = () => (context.getCurrentUtcDateTime().getTime() - startedAt) / 1000;
  for (let attempt = 1; ; attempt += 1) {
    const tasks = start();
    const timer = context.createTimer(policy.deadline === 'step' ? Math.max(timeoutSeconds - elapsedSeconds(), 0) : timeoutSeconds);
    let running = tasks.filter((task) => !task.isComplete);
    while (running.length > 0 && !timer.isComplete) {
      yield context.whenAny([...running, timer]);
      running = running.filter((task) => !task.isComplete);
    }
    const outcomes = tasks.map((task): Outcome<unknown> => {
      if (!task.isComplete) return { ok: false, rejected: false, code: 'TIMEOUT', message: `${name} did not finish within ${timeoutSeconds} s` };
      if (task.isFailed) {
        const error: unknown = task.getException();
        return { ok: false, rejected: false, message: error instanceof Error ? error.message : 'activity failed' };
      }
      return task.getResult();
    });
    const combined = combine(outcomes);
    const outcome: Outcome<T> = combined.ok ? { ok: true, value: (tasks.length === 1 ? combined.value[0] : combined.value) as T } : combined;
    if (outcome.ok || outcome.rejected || attempt >= policy.attempts) return outcome;
    const backoff = Math.min(policy.backoffSeconds * 2 ** (attempt - 1), policy.maxBackoffSeconds);
    if (policy.deadline === 'step' && (outcome.code === 'TIMEOUT' || elapsedSeconds() + backoff >= timeoutSeconds)) {
      return outcome.code === 'TIMEOUT' ? outcome : { ...outcome, message: `${outcome.message} (still failing when ${name}'s ${timeoutSeconds} s ran out)` };
    }
    yield context.createTimer(backoff);
  }
}

/** Schedules an activity in the saga's trace; activities report an Outcome (contract.ts). */
const call = (context: WorkflowContext, saga: SagaInput, activity: string, input: StepInput & Record<string, unknown>): Task<Outcome<unknown>> =>
  context.callActivity(activity, { ...input, traceparent: saga.traceparent }) as Task<Outcome<unknown>>;

/** Combines the outcomes of parallel activities: all ok, else the first rejection, else the first failure. */
function combine(outcomes: Outcome<unknown>[]): Outcome<unknown[]> {
  const rejected = outcomes.find((outcome): outcome is Failure => !outcome.ok && outcome.rejected);
  if (rejected) return rejected;
  const failed = outcomes.find((outcome): outcome is Failure => !outcome.ok);
  if (failed) return failed;
  return { ok: true, value: outcomes.map((outcome) => (outcome.ok ? outcome.value : undefined)) };
}

const OUTCOMES: Record<SagaResult['status'], SagaOutcome> = { CONFIRMED: 'completed', CANCELLED: 'compensated', NEEDS_ATTENTION: 'failed' };

/**
 * The saga with its metrics. The generator runs again from the start at every step, replaying
 * its history: metrics are recorded only outside replay, so once, and its duration comes from the
 * workflow's own clock.
 */
export async function* orderSaga(context: WorkflowContext, input: SagaInput): AsyncGenerator<unknown, SagaResult, unknown> {
  const startedAt = context.getCurrentUtcDateTime().getTime();
  if (!context.isReplaying()) sagaMetrics.started(input.traceparent);
  const finished = (outcome: SagaOutcome) => {
    if (!context.isReplaying()) sagaMetrics.finished(outcome, (context.getCurrentUtcDateTime().getTime() - startedAt) / 1000, input.traceparent);
  };
  try {
    const result = yield* runSaga(context, input);
    finished(OUTCOMES[result.status]);
    return result;
  } catch (error) {
    finished('failed');
    throw error;
  }
}

async function* runSaga(context: WorkflowContext, input: SagaInput): AsyncGenerator<unknown, SagaResult, unknown> {
  const { orderId, settings } = input;
  const timeout = settings.stepTimeoutSeconds;
  // One waiter for the whole saga: a second waitForExternalEvent on the same name would take
  // events away from the first. `isComplete` is then a deterministic "was cancel requested?".
  const cancelRequested = context.waitForExternalEvent(SagaEvent.CANCEL_REQUESTED);
  let reserveStarted = false;
  let chargeStarted = false;
  const cancelled = (): string | undefined => (cancelRequested.isComplete ? 'cancelled on request' : undefined);

  try {
    context.setCustomStatus('reserve-stock');
    reserveStarted = true;
    // Each line is its own activity (and its own idempotent participant command); all run at once.
    const reserved = yield* runStep(context, 'reserve-stock', FORWARD, timeout, () =>
      input.lines.map((line) => call(context, input, Activity.RESERVE_STOCK, { orderId, step: `reserve-stock:${line.productId}`, ...line })),
    );
    if (!reserved.ok) throw new StepFailed('reserve-stock', reserved);
    const stop = cancelled();
    if (stop) throw new StepFailed('cancel', { ok: false, rejected: true, code: 'CANCELLED', message: stop });

    context.setCustomStatus('charge-payment');
    chargeStarted = true;
    const charged = yield* runStep<ChargeResult>(context, 'charge-payment', FORWARD, timeout, () => [
      call(context, input, Activity.CHARGE_PAYMENT, { orderId, step: 'charge-payment', userId: input.userId, amount: input.total, paymentMethod: input.paymentMethod }),
    ]);
    if (!charged.ok) throw new StepFailed('charge-payment', charged);
    if (charged.value.status === 'PENDING_CONFIRMATION') {
      context.setCustomStatus('await-payment-confirmation');
      const confirmed = context.waitForExternalEvent(SagaEvent.PAYMENT_CONFIRMED);
      const failed = context.waitForExternalEvent(SagaEvent.PAYMENT_FAILED);
      const expired = context.createTimer(settings.paymentConfirmationTimeoutSeconds);
      const winner = yield context.whenAny([confirmed, failed, cancelRequested, expired]);
      if (winner === failed) throw new StepFailed('charge-payment', { ok: false, rejected: true, code: 'PAYMENT_DECLINED', message: 'the payment provider declined the payment' });
      if (winner === cancelRequested) throw new StepFailed('cancel', { ok: false, rejected: true, code: 'CANCELLED', message: 'cancelled on request' });
      if (winner === expired) throw new StepFailed('charge-payment', { ok: false, rejected: false, code: 'TIMEOUT', message: `no payment confirmation within ${settings.paymentConfirmationTimeoutSeconds} s` });
    }
    const stopBeforeConfirm = cancelled();
    if (stopBeforeConfirm) throw new StepFailed('cancel', { ok: false, rejected: true, code: 'CANCELLED', message: stopBeforeConfirm });

    context.setCustomStatus('confirm-order');
    const confirmedOrder = yield* runStep(context, 'confirm-order', FORWARD, timeout, () => [call(context, input, Activity.CONFIRM_ORDER, { orderId, step: 'confirm-order' })]);
    if (!confirmedOrder.ok) throw new StepFailed('confirm-order', confirmedOrder);
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    return yield* compensate(context, input, { reserveStarted, chargeStarted }, error.message);
  }

  // Past confirmation the order stands: committing stock is retried until it succeeds or escalates.
  context.setCustomStatus('commit-stock');
  const committed = yield* runStep(context, 'commit-stock', COMPENSATION, timeout, () => [call(context, input, Activity.COMMIT_STOCK, { orderId, step: 'commit-stock' })]);
  if (!committed.ok) return yield* escalate(context, input, 'commit-stock', committed);
  context.setCustomStatus('completed');
  return { status: 'CONFIRMED' };
}

async function* compensate(context: WorkflowContext, input: SagaInput, done: { reserveStarted: boolean; chargeStarted: boolean }, reason: string): AsyncGenerator<unknown, SagaResult, unknown> {
  const { orderId, settings } = input;
  context.setCustomStatus('compensating');
  if (done.chargeStarted) {
    const refunded = yield* runStep(context, 'cancel-payment', COMPENSATION, settings.stepTimeoutSeconds, () => [
      call(context, input, Activity.CANCEL_PAYMENT, { orderId, step: 'cancel-payment', reason }),
    ]);
    if (!refunded.ok) return yield* escalate(context, input, 'cancel-payment', refunded);
  }
  if (done.reserveStarted) {
    const released = yield* runStep(context, 'release-stock', COMPENSATION, settings.stepTimeoutSeconds, () => [
      call(context, input, Activity.RELEASE_STOCK, { orderId, step: 'release-stock', reason }),
    ]);
    if (!released.ok) return yield* escalate(context, input, 'release-stock', released);
  }
  const cancelledOrder = yield* runStep(context, 'cancel-order', COMPENSATION, settings.stepTimeoutSeconds, () => [
    call(context, input, Activity.CANCEL_ORDER, { orderId, step: 'cancel-order', reason }),
  ]);
  if (!cancelledOrder.ok) return yield* escalate(context, input, 'cancel-order', cancelledOrder);
  context.setCustomStatus('compensated');
  return { status: 'CANCELLED', reason };
}

async function* escalate(context: WorkflowContext, input: SagaInput, step: string, failure: Failure): AsyncGenerator<unknown, SagaResult, unknown> {
  const { orderId } = input;
  context.setCustomStatus('needs-attention');
  const reason = `${step} kept failing: ${customerReason(failure)}`;
  const error = `${step} kept failing: ${failure.message}`;
  // Retried on durable timers like any step; if even this fails the workflow fails, visibly.
  const marked = yield* runStep(context, 'escalate', COMPENSATION, 60, () => [call(context, input, Activity.ESCALATE, { orderId, step: 'escalate', reason, error })]);
  if (!marked.ok) throw new Error(`could not mark order ${orderId} as needing attention: ${marked.message}`);
  return { status: 'NEEDS_ATTENTION', reason };
}
