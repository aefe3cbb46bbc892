export { runSuite, scenariosFor, settingsFor } from './suite.ts';
export type { SuiteOptions } from './suite.ts';
export { runScenario } from './run-scenario.ts';
export type { RunSettings, ScenarioReport } from './run-scenario.ts';
export { INVARIANTS, INVARIANT_TITLES } from './invariants.ts';
export type { InvariantName, InvariantResult, InvariantResults } from './invariants.ts';
export { passed, renderTable } from './table.ts';
