export { launch } from './launch.ts';
export type { LaunchEvent, LaunchOptions, RunningSystem } from './launch.ts';
export { startEmbeddedPostgres } from './postgres.ts';
export { readRunFile } from './run-file.ts';
export type { DatabaseServer } from './postgres.ts';
