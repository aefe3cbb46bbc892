import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowRuntimeStatus, type WorkflowActivityContext, type WorkflowContext, type WorkflowRuntime } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkflowTestbed, type WorkflowTestbed } from './workflow-support.ts';

// Many instances at once, whose activities finish in shuffled order: every instance must see
// only its own activities' results. Task ids repeat across instances (each counts from 0), so a
// completion delivered to the wrong instance would complete the wrong task there.

const INSTANCES = 150;

let bed: WorkflowTestbed;
let runtime: WorkflowRuntime;

/** Answers its input after a random pause, so completions of different instances interleave. */
const tag = async (_context: WorkflowActivityContext, input: { instance: string; step: string }) => {
  await sleep(Math.floor(Math.random() * 30));
  return `${input.instance}/${input.step}`;
};

async function* tagged(context: WorkflowContext, instance: string): AsyncGenerator<unknown, string[], unknown> {
  const first = (yield context.callActivity(tag, { instance, step: 'a' })) as string;
  const [second, third] = (yield context.whenAll([context.callActivity(tag, { instance, step: 'b' }), context.callActivity(tag, { instance, step: 'c' })])) as string[];
  const fourth = (yield context.callActivity(tag, { instance, step: 'd' })) as string;
  return [first, second ?? '', third ?? '', fourth];
}

beforeAll(async () => {
  bed = await startWorkflowTestbed('dapr_workflow_isolation');
  runtime = bed.newRuntime();
  runtime.registerWorkflow(tagged);
  runtime.registerActivity(tag);
  await runtime.start();
}, 30_000);

afterAll(async () => {
  await runtime?.stop();
  await bed?.close();
});

describe('instances in parallel', () => {
  it(`gives each of ${INSTANCES} concurrent instances exactly its own activity results`, async () => {
    const ids = Array.from({ length: INSTANCES }, () => randomUUID());
    await Promise.all(ids.map((id) => bed.client.scheduleNewWorkflow(tagged, id, id)));
    const states = await Promise.all(ids.map((id) => bed.client.waitForWorkflowCompletion(id, undefined, 120)));
    for (const [index, state] of states.entries()) {
      const id = ids[index] ?? '';
      expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
      expect(JSON.parse(state?.serializedOutput ?? 'null')).toEqual(['a', 'b', 'c', 'd'].map((step) => `${id}/${step}`));
    }
  }, 150_000);
});
