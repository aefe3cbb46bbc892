import { statusName } from './workflow-status.ts';
import type { SagaResolvers, SagaStepResolvers } from '../__generated__/resolvers-types.ts';
import { sagaSteps } from '../modules/saga/saga-queries.ts';
import { sagaStatus } from '../modules/saga/saga-view.ts';

export const Saga: SagaResolvers = {
  orderId: (saga) => saga.order.id,
  order: (saga) => saga.order,
  status: async (saga, _args, ctx) => sagaStatus(saga.order, await sagaSteps(ctx.em, saga.order.id)),
  steps: (saga, _args, ctx) => sagaSteps(ctx.em, saga.order.id),
  async runtimeStatus(saga, _args, ctx) {
    const state = await ctx.commerce().workflows.getWorkflowState(saga.order.id, false);
    return state ? statusName(state.runtimeStatus) : null;
  },
  async currentStep(saga, _args, ctx) {
    const state = await ctx.commerce().workflows.getWorkflowState(saga.order.id, true);
    // The JS SDK sends the custom status as given (a plain string), not as JSON.
    return state?.customStatus ?? null;
  },
};

export const SagaStep: SagaStepResolvers = {
  startedAt: (step) => step.startedAt.toISOString(),
  endedAt: (step) => step.endedAt?.toISOString() ?? null,
};
