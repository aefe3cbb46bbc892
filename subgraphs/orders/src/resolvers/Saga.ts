import { hasRole, Role } from '@agora/auth';
import { statusName } from './workflow-status.ts';
import type { SagaResolvers, SagaStepResolvers } from '../__generated__/resolvers-types.ts';
import { SagaStepStatus } from '../modules/saga/saga-step.entity.ts';
import { sagaStatus } from '../modules/saga/saga-view.ts';
import { TECHNICAL_FAILURE } from '../saga/contract.ts';

export const Saga: SagaResolvers = {
  orderId: (saga) => saga.order.id,
  order: (saga) => saga.order,
  status: async (saga, _args, ctx) => sagaStatus(saga.order, await ctx.sagaStepsByOrderId.load(saga.order.id)),
  steps: (saga, _args, ctx) => ctx.sagaStepsByOrderId.load(saga.order.id),
  async runtimeStatus(saga, _args, ctx) {
    const state = await ctx.workflowState.load(saga.order.id);
    return state ? statusName(state.runtimeStatus) : null;
  },
  async currentStep(saga, _args, ctx) {
    const state = await ctx.workflowState.load(saga.order.id);
    // The JS SDK sends the custom status as given (a plain string), not as JSON.
    return state?.customStatus ?? null;
  },
};

export const SagaStep: SagaStepResolvers = {
  startedAt: (step) => step.startedAt.toISOString(),
  endedAt: (step) => step.endedAt?.toISOString() ?? null,
  // A technical failure's error is for admins; the order's owner reads TECHNICAL_FAILURE.
  error: (step, _args, ctx) => (step.status === SagaStepStatus.FAILED && !hasRole(ctx.caller, Role.ADMIN) ? TECHNICAL_FAILURE : (step.error ?? null)),
};
