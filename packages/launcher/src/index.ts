export { launch } from './launch.ts';
export type { LaunchEvent, LaunchOptions, RunningSystem } from './launch.ts';
