import { INVARIANTS, INVARIANT_TITLES } from './invariants.ts';
import type { ScenarioReport } from './run-scenario.ts';

/** True when the scenario ran to its checks and every invariant held. */
export const passed = (report: ScenarioReport): boolean => report.error === undefined && report.invariants !== undefined && INVARIANTS.every((name) => report.invariants?.[name].ok);

// Cells hold ASCII, €, ✓, ✗, → and ≠: one code point, one column.
const width = (text: string) => Array.from(text).length;
const pad = (text: string, size: number) => text + ' '.repeat(Math.max(0, size - width(text)));

/** Scenario × invariant → ✓/✗ with its numbers, then every failure spelled out; `verbose` adds how the orders ended. */
export function renderTable(reports: readonly ScenarioReport[], verbose = false): string {
  const header = ['scenario', ...INVARIANTS.map((name) => INVARIANT_TITLES[name]), 'settled'];
  const rows = reports.map((report) => {
    const cells = INVARIANTS.map((name) => {
      const result = report.invariants?.[name];
      if (!result) return '✗ did not run';
      return `${result.ok ? '✓' : '✗'} ${result.detail}`;
    });
    const settled = report.settled ? `${report.settled.settled ? '' : 'NO '}${Math.round(report.settled.ms / 1000)} s` : '-';
    return [report.scenario.name, ...cells, settled];
  });
  const widths = header.map((title, column) => Math.max(width(title), ...rows.map((row) => width(row[column] ?? ''))));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => pad(cell, widths[column] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((size) => '-'.repeat(size + 2)).join('|')}|`, ...rows.map(line)];

  const failures: string[] = [];
  for (const report of reports) {
    const lines: string[] = [];
    if (report.error) lines.push(`  error: ${report.error.split('\n').slice(0, 12).join('\n    ')}`);
    for (const name of INVARIANTS) for (const problem of report.invariants?.[name].problems ?? []) lines.push(`  ${INVARIANT_TITLES[name]}: ${problem}`);
    if (report.settled && !report.settled.settled) lines.push(`  still in flight at the deadline: ${report.settled.waitingFor.join('; ')}`);
    if (lines.length > 0 || !passed(report)) failures.push(`✗ ${report.scenario.name} (${report.scenario.description}; log ${report.logFile})`, ...lines);
  }
  const summary = reports.flatMap((report) => {
    const load = report.load ? `${report.load.placed.length} placed, ${report.load.unacknowledged.length} unacknowledged, ${report.load.retries} retries, ${report.load.cancels.accepted}/${report.load.cancels.requested} cancels accepted` : 'no load';
    // Why placements had to be retried: the three most frequent errors.
    const errors = Object.entries(report.load?.errors ?? {})
      .sort(([, a], [, b]) => b - a)
      .slice(0, 3)
      .map(([error, count]) => `      ${count}× ${error}`);
    const outcomes = Object.entries(report.outcomes ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([outcome, count]) => `      = ${count}× ${outcome}`);
    return [`  ${passed(report) ? '✓' : '✗'} ${report.scenario.name}: ${report.faultNote ?? 'fault not injected'}; ${load}; ${Math.round(report.durationMs / 1000)} s`, ...errors, ...(verbose ? outcomes : [])];
  });
  return [...out, '', ...summary, ...(failures.length > 0 ? ['', 'Failures:', ...failures] : [])].join('\n');
}
