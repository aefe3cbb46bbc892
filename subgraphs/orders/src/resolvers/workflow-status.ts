import { WorkflowRuntimeStatus } from '@dapr/dapr';

/** A workflow runtime status as its name (RUNNING, COMPLETED, ...). */
export const statusName = (status: WorkflowRuntimeStatus): string => WorkflowRuntimeStatus[status];
