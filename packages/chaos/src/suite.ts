import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logFileFor, runOnEnvironment, runScenario, startEnvironment, type Environment, type RunSettings, type ScenarioReport } from './run-scenario.ts';
import { allScenarios, SHORT_SCENARIOS, type Scenario } from './scenarios.ts';
import { passed } from './table.ts';

export interface SuiteOptions {
  short: boolean;
  /** Only scenarios whose name contains one of these (case-insensitive). */
  only?: readonly string[];
  log?: (line: string) => void;
  /** Keep the scenarios' system logs even when they pass. */
  keepLogs?: boolean;
  /** Orders per scenario instead of the form's default. */
  orders?: number;
}

/** The load and deadlines of each form. */
export function settingsFor(short: boolean, log: (line: string) => void, orders?: number): RunSettings {
  const logDir = join(tmpdir(), `agora-chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const settings: RunSettings = short
    ? { orders: 30, ratePerSecond: 10, faultAfter: 0.3, settleTimeoutMs: 90_000, retryForMs: 15_000, logDir, log }
    : { orders: 120, ratePerSecond: 10, faultAfter: 0.3, settleTimeoutMs: 180_000, retryForMs: 90_000, logDir, log };
  return orders === undefined ? settings : { ...settings, orders };
}

export function scenariosFor(options: Pick<SuiteOptions, 'short' | 'only'>): Scenario[] {
  const all = allScenarios(options.short ? 4_000 : 8_000);
  const chosen = options.short && !options.only ? all.filter((scenario) => SHORT_SCENARIOS.includes(scenario.name)) : all;
  const only = options.only?.map((name) => name.toLowerCase());
  if (!only) return chosen;
  // An exact name picks that scenario; otherwise a part of a name picks every scenario containing it.
  return all.filter((scenario) => only.some((name) => scenario.name.toLowerCase() === name || (!all.some((other) => other.name.toLowerCase() === name) && scenario.name.toLowerCase().includes(name))));
}

/** Runs the scenarios one after another (fresh systems; see below for the short form); a failure does not stop the others. */
export async function runSuite(options: SuiteOptions): Promise<ScenarioReport[]> {
  const log = options.log ?? (() => undefined);
  const settings = settingsFor(options.short, log, options.orders);
  const reports: ScenarioReport[] = [];
  const finished = (report: ScenarioReport) => {
    log(`${report.scenario.name}: ${passed(report) ? 'all invariants hold' : 'FAILED'} (${Math.round(report.durationMs / 1000)} s)`);
    if (passed(report) && !options.keepLogs) rmSync(report.logFile, { force: true });
    reports.push(report);
  };
  const scenarios = scenariosFor(options);
  // The short form starts one system for the scenarios that need no settings of their own and runs
  // them one after another on it (each with its own baseline); the full suite starts one per scenario.
  const shared = options.short ? scenarios.filter((scenario) => !scenario.env) : [];
  if (shared.length > 0) {
    log(`short form: starting one system for ${shared.map((scenario) => scenario.name).join(', ')}`);
    const first = logFileFor(settings, shared[0] as Scenario);
    let environment: Environment | undefined;
    try {
      environment = await startEnvironment('short', undefined, first);
    } catch (error) {
      for (const scenario of shared) finished({ scenario, durationMs: 0, logFile: first, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
    if (environment) {
      try {
        for (const scenario of shared) finished(await runOnEnvironment(scenario, environment, settings));
      } finally {
        await environment.stop();
      }
    }
  }
  for (const scenario of scenarios.filter((candidate) => !shared.includes(candidate))) finished(await runScenario(scenario, settings));
  if (!options.keepLogs && reports.every(passed)) rmSync(settings.logDir, { recursive: true, force: true });
  return reports;
}
