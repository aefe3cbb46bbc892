import { afterAll, describe, expect, it } from 'vitest';
import { INVARIANTS, renderTable, runSuite, type ScenarioReport } from '../src/index.ts';

// The chaos suite's short form (packages/chaos/README.md): one system on its own PostgreSQL and
// Redis; under load, kill -9 of the orders app, a PostgreSQL restart, and duplicated, reordered
// events, each followed by the invariants. It takes over from gateway/test/saga-durability.test.ts.

// Three of the short form's five, to stay within about three minutes on a 2-core machine;
// `npm run chaos -- --short` runs all five.
const SCENARIOS = ['kill-9 orders', 'postgres restart', 'duplicate+reorder events'];

/** What a failed placement may answer during these faults: the service is back shortly, or the same key is still being placed. */
const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'CONFLICT']);

let reports: ScenarioReport[] = [];

afterAll(() => {
  // The table, with every failure spelled out, is the useful output when an assertion fails.
  if (reports.length > 0) process.stdout.write(`${renderTable(reports)}\n`);
});

describe('chaos suite, short form', () => {
  it('keeps every invariant through kill -9 of orders, a PostgreSQL restart, and duplicated reordered events', async () => {
    reports = await runSuite({ short: true, only: SCENARIOS, orders: 20 });
    expect(reports.map((report) => report.scenario.name)).toEqual(SCENARIOS);
    for (const report of reports) {
      expect(report.error, `${report.scenario.name} did not run to its checks`).toBeUndefined();
      // What clients were told while the fault lasted: only that they may send the placement again.
      const codes = Object.keys(report.load?.codes ?? {});
      expect(codes.filter((code) => !RETRYABLE.has(code)), `${report.scenario.name}: placements failed with ${JSON.stringify(report.load?.codes)}`).toEqual([]);
      for (const name of INVARIANTS) {
        const result = report.invariants?.[name];
        expect(result?.ok, `${report.scenario.name} × ${name}: ${result?.detail ?? 'not checked'}\n${result?.problems.join('\n') ?? ''}`).toBe(true);
      }
    }
  }, 900_000);
});
