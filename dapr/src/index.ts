export { startSidecar } from './sidecar.ts';
export type { RunningSidecar, SidecarOptions } from './sidecar.ts';
