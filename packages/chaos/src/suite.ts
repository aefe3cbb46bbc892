import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario, type RunSettings, type ScenarioReport } from './run-scenario.ts';
import { allScenarios, SHORT_SCENARIOS, type Scenario } from './scenarios.ts';
import { passed } from './table.ts';

export interface SuiteOptions {
  short: boolean;
  /** Only scenarios whose name contains one of these (case-insensitive). */
  only?: readonly string[];
  log?: (line: string) => void;
  /** Keep the scenarios' system logs even when they pass. */
  keepLogs?: boolean;
}

/** The load and deadlines of each form. */
export function settingsFor(short: boolean, log: (line: string) => void): RunSettings {
  const logDir = join(tmpdir(), `agora-chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  return short
    ? { orders: 30, ratePerSecond: 10, faultAfter: 0.3, settleTimeoutMs: 90_000, logDir, log }
    : { orders: 120, ratePerSecond: 10, faultAfter: 0.3, settleTimeoutMs: 180_000, logDir, log };
}

export function scenariosFor(options: Pick<SuiteOptions, 'short' | 'only'>): Scenario[] {
  const all = allScenarios(options.short ? 4_000 : 8_000);
  const chosen = options.short && !options.only ? all.filter((scenario) => SHORT_SCENARIOS.includes(scenario.name)) : all;
  const only = options.only?.map((name) => name.toLowerCase());
  return only ? chosen.filter((scenario) => only.some((name) => scenario.name.toLowerCase().includes(name))) : chosen;
}

/** Runs the scenarios one after another (each on a fresh system); a scenario's failure does not stop the others. */
export async function runSuite(options: SuiteOptions): Promise<ScenarioReport[]> {
  const log = options.log ?? (() => undefined);
  const settings = settingsFor(options.short, log);
  const reports: ScenarioReport[] = [];
  for (const scenario of scenariosFor(options)) {
    const report = await runScenario(scenario, settings);
    log(`${scenario.name}: ${passed(report) ? 'all invariants hold' : 'FAILED'} (${Math.round(report.durationMs / 1000)} s)`);
    if (passed(report) && !options.keepLogs) rmSync(report.logFile, { force: true });
    reports.push(report);
  }
  if (!options.keepLogs && reports.every(passed)) rmSync(settings.logDir, { recursive: true, force: true });
  return reports;
}
