import { WorkflowRuntimeStatus, type WorkflowActivityContext, type WorkflowContext, type WorkflowRuntime } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startWorkflowTestbed, type WorkflowTestbed } from './workflow-support.ts';

// The workflow engine driven only through @dapr/dapr's WorkflowRuntime and DaprWorkflowClient,
// over the sidecar's gRPC port, on real PostgreSQL.

let bed: WorkflowTestbed;
let runtime: WorkflowRuntime;
const attempts = new Map<string, number>();
let replayFlips = 0;

const addOne = async (_context: WorkflowActivityContext, value: number) => value + 1;
const square = async (_context: WorkflowActivityContext, value: number) => value * value;
const explode = async (_context: WorkflowActivityContext, message: string) => {
  throw new Error(message);
};
/** Fails the first `failures` calls for a key, then succeeds. */
const flaky = async (_context: WorkflowActivityContext, input: { key: string; failures: number }) => {
  const count = (attempts.get(input.key) ?? 0) + 1;
  attempts.set(input.key, count);
  if (count <= input.failures) throw new Error(`attempt ${count} failed`);
  return count;
};
const flip = async () => {
  replayFlips += 1;
  return 'flipped';
};

async function* chain(context: WorkflowContext, start: number): AsyncGenerator<unknown, number, number> {
  let value = start;
  for (let step = 0; step < 3; step += 1) {
    value = yield context.callActivity(addOne, value);
    context.setCustomStatus(`step ${step + 1}`);
  }
  return value;
}

async function* fanOut(context: WorkflowContext, count: number): AsyncGenerator<unknown, number, number[]> {
  const squares = yield context.whenAll(Array.from({ length: count }, (_, index) => context.callActivity(square, index + 1)));
  return squares.reduce((sum, value) => sum + value, 0);
}

async function* sleeper(context: WorkflowContext, seconds: number): AsyncGenerator<unknown, string, unknown> {
  const before = context.getCurrentUtcDateTime().getTime();
  yield context.createTimer(seconds);
  return `slept ${context.getCurrentUtcDateTime().getTime() - before}`;
}

async function* approval(context: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
  const first: unknown = yield context.waitForExternalEvent('approve');
  const second: unknown = yield context.waitForExternalEvent('approve');
  return { first, second };
}

async function* approvalWithTimeout(context: WorkflowContext, seconds: number): AsyncGenerator<unknown, string, unknown> {
  const approved = context.waitForExternalEvent('approve');
  const winner: unknown = yield context.whenAny([approved, context.createTimer(seconds)]);
  return winner === approved ? 'approved' : 'timed out';
}

async function* child(context: WorkflowContext, value: number): AsyncGenerator<unknown, number, number> {
  const result: number = yield context.callActivity(addOne, value);
  if (result > 100) yield context.callActivity(explode, `child got ${result}`);
  return result * 10;
}

async function* parent(context: WorkflowContext, value: number): AsyncGenerator<unknown, unknown, unknown> {
  try {
    const fromChild: unknown = yield context.callChildWorkflow(child, value);
    return { fromChild };
  } catch (error) {
    return { childFailed: error instanceof Error ? error.message : String(error) };
  }
}

async function* waitsForever(context: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
  return yield context.waitForExternalEvent('never');
}

async function* parentOfWaiter(context: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
  return yield context.callChildWorkflow(waitsForever, undefined, `${context.getWorkflowInstanceId()}-child`);
}

async function* counter(context: WorkflowContext, state: { count: number; until: number }): AsyncGenerator<unknown, number, unknown> {
  if (state.count >= state.until) return state.count;
  yield context.createTimer(0);
  context.continueAsNew({ count: state.count + 1, until: state.until }, false);
  return state.count;
}

/** Durable retries, written in the workflow (the JS SDK's callActivity has no retry policy): backoff on timers. */
async function* retrying(context: WorkflowContext, input: { key: string; failures: number; maxAttempts: number }): AsyncGenerator<unknown, unknown, unknown> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return yield context.callActivity(flaky, { key: input.key, failures: input.failures });
    } catch (error) {
      if (attempt >= input.maxAttempts) throw error;
      yield context.createTimer(0.05 * 2 ** attempt);
    }
  }
}

async function* failing(context: WorkflowContext, message: string): AsyncGenerator<unknown, unknown, unknown> {
  return yield context.callActivity(explode, message);
}

/** Calls a different activity once the first run happened: a non-deterministic orchestrator. */
async function* nonDeterministic(context: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
  if (replayFlips === 0) yield context.callActivity(flip);
  else yield context.callActivity(addOne, 1);
  return yield context.createTimer(0);
}

beforeAll(async () => {
  bed = await startWorkflowTestbed('dapr_workflow');
  runtime = bed.newRuntime();
  for (const workflow of [chain, fanOut, sleeper, approval, approvalWithTimeout, child, parent, waitsForever, parentOfWaiter, counter, retrying, failing, nonDeterministic]) {
    runtime.registerWorkflow(workflow);
  }
  for (const activity of [addOne, square, explode, flaky, flip]) runtime.registerActivity(activity);
  await runtime.start();
}, 30_000);

afterAll(async () => {
  await runtime?.stop();
  await bed?.close();
});

const output = (state: { serializedOutput?: string | undefined } | undefined): unknown => (state?.serializedOutput ? JSON.parse(state.serializedOutput) : undefined);

describe('workflows through the official SDK', () => {
  it('runs an activity chain to completion, with input, output and custom status', async () => {
    const id = await bed.client.scheduleNewWorkflow(chain, 10);
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(output(state)).toBe(13);
    expect(state?.serializedInput).toBe('10');
    expect(state?.customStatus).toBe('step 3');
    expect(state?.name).toBe('chain');
  });

  it('fans out 100 activities and fans their results back in', async () => {
    const id = await bed.client.scheduleNewWorkflow(fanOut, 100);
    const state = await bed.client.waitForWorkflowCompletion(id, true, 30);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(output(state)).toBe((100 * 101 * 201) / 6);
  });

  it('waits on a durable timer', async () => {
    const started = Date.now();
    const id = await bed.client.scheduleNewWorkflow(sleeper, 1);
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(output(state)).toMatch(/^slept \d+$/);
  });

  it('starts an instance at a scheduled time, pending until then', async () => {
    const id = await bed.client.scheduleNewWorkflow(chain, 1, undefined, new Date(Date.now() + 1_500));
    expect((await bed.client.getWorkflowState(id, false))?.runtimeStatus).toBe(WorkflowRuntimeStatus.PENDING);
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(output(state)).toBe(4);
  });

  it('delivers external events raised before and after the workflow waits for them', async () => {
    const id = await bed.client.scheduleNewWorkflow(approval);
    // Raised at once: the orchestrator has not run yet, so the event is buffered.
    await bed.client.raiseEvent(id, 'approve', 'early');
    await eventually(async () => (await bed.client.getWorkflowState(id, false))?.runtimeStatus === WorkflowRuntimeStatus.RUNNING, 'the workflow runs');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await bed.client.raiseEvent(id, 'APPROVE', 'late');
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(output(state)).toEqual({ first: 'early', second: 'late' });
  });

  it('races an external event against a timer with whenAny', async () => {
    const approvedId = await bed.client.scheduleNewWorkflow(approvalWithTimeout, 30);
    await bed.client.raiseEvent(approvedId, 'approve', true);
    const timedOutId = await bed.client.scheduleNewWorkflow(approvalWithTimeout, 0.3);
    expect(output(await bed.client.waitForWorkflowCompletion(approvedId, true, 20))).toBe('approved');
    expect(output(await bed.client.waitForWorkflowCompletion(timedOutId, true, 20))).toBe('timed out');
  });

  it('runs child workflows, passing back their results and their failures', async () => {
    const ok = await bed.client.scheduleNewWorkflow(parent, 4);
    const bad = await bed.client.scheduleNewWorkflow(parent, 500);
    expect(output(await bed.client.waitForWorkflowCompletion(ok, true, 20))).toEqual({ fromChild: 50 });
    const failed = output(await bed.client.waitForWorkflowCompletion(bad, true, 20)) as { childFailed: string };
    expect(failed.childFailed).toContain('child got 501');
    const childState = await bed.client.getWorkflowState(`${bad}:0001`, true);
    expect(childState?.runtimeStatus).toBe(WorkflowRuntimeStatus.FAILED);
    expect(childState?.workflowFailureDetails?.getErrorMessage()).toContain('child got 501');
  });

  it('terminates a workflow together with its running child workflow', async () => {
    const id = await bed.client.scheduleNewWorkflow(parentOfWaiter);
    const childId = `${id}-child`;
    await eventually(async () => (await bed.client.getWorkflowState(childId, false))?.runtimeStatus === WorkflowRuntimeStatus.RUNNING, 'the child runs');
    await bed.client.terminateWorkflow(id, { reason: 'test' });
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.TERMINATED);
    expect(output(state)).toEqual({ reason: 'test' });
    expect((await bed.client.waitForWorkflowCompletion(childId, true, 20))?.runtimeStatus).toBe(WorkflowRuntimeStatus.TERMINATED);
  });

  it('suspends a workflow, which then ignores events until it is resumed', async () => {
    const id = await bed.client.scheduleNewWorkflow(approval);
    await eventually(async () => (await bed.client.getWorkflowState(id, false))?.runtimeStatus === WorkflowRuntimeStatus.RUNNING, 'the workflow runs');
    await bed.client.suspendWorkflow(id);
    await eventually(async () => (await bed.client.getWorkflowState(id, false))?.runtimeStatus === WorkflowRuntimeStatus.SUSPENDED, 'the workflow is suspended');
    await bed.client.raiseEvent(id, 'approve', 1);
    await bed.client.raiseEvent(id, 'approve', 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await bed.client.getWorkflowState(id, false))?.runtimeStatus).toBe(WorkflowRuntimeStatus.SUSPENDED);
    await bed.client.resumeWorkflow(id);
    expect(output(await bed.client.waitForWorkflowCompletion(id, true, 20))).toEqual({ first: 1, second: 2 });
  });

  it('purges a finished workflow and its children, and refuses to purge a running one', async () => {
    const done = await bed.client.scheduleNewWorkflow(parent, 1);
    await bed.client.waitForWorkflowCompletion(done, true, 20);
    expect(await bed.client.purgeWorkflow(done)).toBe(true);
    expect(await bed.client.getWorkflowState(done, false)).toBeUndefined();
    expect(await bed.client.getWorkflowState(`${done}:0001`, false)).toBeUndefined();
    const running = await bed.client.scheduleNewWorkflow(waitsForever);
    expect(await bed.client.purgeWorkflow(running)).toBe(false);
    expect((await bed.client.getWorkflowState(running, false))?.runtimeStatus).not.toBeUndefined();
    await bed.client.terminateWorkflow(running, null);
  });

  it('continues as new with fresh history until done', async () => {
    const id = await bed.client.scheduleNewWorkflow(counter, { count: 0, until: 5 });
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(output(state)).toBe(5);
    expect(state?.serializedInput).toBe(JSON.stringify({ count: 5, until: 5 }));
  });

  it('retries a failing activity on durable timers until it succeeds, or fails the workflow when attempts run out', async () => {
    const recovers = await bed.client.scheduleNewWorkflow(retrying, { key: 'recovers', failures: 2, maxAttempts: 4 });
    const givesUp = await bed.client.scheduleNewWorkflow(retrying, { key: 'gives-up', failures: 10, maxAttempts: 3 });
    expect(output(await bed.client.waitForWorkflowCompletion(recovers, true, 20))).toBe(3);
    const failed = await bed.client.waitForWorkflowCompletion(givesUp, true, 20);
    expect(failed?.runtimeStatus).toBe(WorkflowRuntimeStatus.FAILED);
    expect(failed?.workflowFailureDetails?.getErrorMessage()).toContain('attempt 3 failed');
    expect(attempts.get('gives-up')).toBe(3);
  });

  it('fails a workflow whose activity throws, with the failure details visible', async () => {
    const id = await bed.client.scheduleNewWorkflow(failing, 'card declined');
    const state = await bed.client.waitForWorkflowCompletion(id, true, 20);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.FAILED);
    expect(state?.workflowFailureDetails?.getErrorMessage()).toContain('card declined');
  });

  it('fails, not hangs, a workflow nobody registered and a non-deterministic one', async () => {
    const unknown = await bed.client.scheduleNewWorkflow('noSuchWorkflow');
    const unknownState = await bed.client.waitForWorkflowCompletion(unknown, true, 20);
    expect(unknownState?.runtimeStatus).toBe(WorkflowRuntimeStatus.FAILED);
    expect(unknownState?.workflowFailureDetails?.getErrorMessage()).toContain('noSuchWorkflow');
    const flipping = await bed.client.scheduleNewWorkflow(nonDeterministic);
    const flippedState = await bed.client.waitForWorkflowCompletion(flipping, true, 20);
    expect(flippedState?.runtimeStatus).toBe(WorkflowRuntimeStatus.FAILED);
    expect(flippedState?.workflowFailureDetails?.getErrorType()).toContain('NonDeterminism');
  });
});

describe('bad input to the workflow client API', () => {
  it('refuses to start an instance id that is still running, and reuses a finished one', async () => {
    const id = `reuse-${Date.now()}`;
    await bed.client.scheduleNewWorkflow(waitsForever, undefined, id);
    await expect(bed.client.scheduleNewWorkflow(chain, 1, id)).rejects.toThrow(/already exists/);
    await bed.client.terminateWorkflow(id, null);
    await bed.client.waitForWorkflowCompletion(id, false, 20);
    await bed.client.scheduleNewWorkflow(chain, 1, id);
    expect(output(await bed.client.waitForWorkflowCompletion(id, true, 20))).toBe(4);
  });

  it('answers unknown ids clearly', async () => {
    expect(await bed.client.getWorkflowState('no-such-instance', false)).toBeUndefined();
    await expect(bed.client.raiseEvent('no-such-instance', 'approve', 1)).rejects.toThrow(/NOT_FOUND|no workflow instance/);
    await expect(bed.client.terminateWorkflow('no-such-instance', null)).rejects.toThrow(/no workflow instance/);
    await expect(bed.client.suspendWorkflow('no-such-instance')).rejects.toThrow(/no workflow instance/);
  });

  it('refuses events for a finished instance', async () => {
    const id = await bed.client.scheduleNewWorkflow(chain, 1);
    await bed.client.waitForWorkflowCompletion(id, false, 20);
    await expect(bed.client.raiseEvent(id, 'approve', 1)).rejects.toThrow(/is COMPLETED; it cannot receive events/);
  });

  it('refuses an invalid instance id', async () => {
    await expect(bed.client.scheduleNewWorkflow(chain, 1, 'spaces are not allowed')).rejects.toThrow(/invalid instance id/);
  });
});
