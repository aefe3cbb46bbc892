import { parseArgs } from 'node:util';
import { runSuite } from './suite.ts';
import { passed, renderTable } from './table.ts';

// `npm run chaos` (full suite) or `npm run chaos -- --short` (CHAOS_SHORT=1 too); `--only <name>`
// (repeatable) picks scenarios by name or part of one; `--orders <n>` sets the load per scenario;
// `--keep-logs` keeps every system log (they are kept for failed scenarios anyway); `--verbose`
// lists how the orders ended.

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: process.env['CHAOS_SHORT'] === '1' },
    only: { type: 'string', multiple: true },
    'keep-logs': { type: 'boolean', default: false },
    orders: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

const write = (line: string) => process.stdout.write(`${line}\n`);
// Exits explicitly with the verdict, once everything written has been flushed.
const exit = (code: number) => process.stdout.write('', () => process.exit(code));
const reports = await runSuite({ short: values.short, keepLogs: values['keep-logs'], ...(values.only ? { only: values.only } : {}), ...(values.orders ? { orders: Number(values.orders) } : {}), log: (line) => write(`chaos: ${line}`) });
if (reports.length === 0) {
  write('chaos: no scenario matches');
  exit(2);
} else {
  write('');
  write(renderTable(reports, values.verbose));
  exit(reports.every(passed) ? 0 : 1);
}
