import { parseArgs } from 'node:util';
import { runSuite } from './suite.ts';
import { passed, renderTable } from './table.ts';

// `npm run chaos` (full suite) or `npm run chaos -- --short` (CHAOS_SHORT=1 too); `--only <name>`
// (repeatable) picks scenarios by part of their name; `--keep-logs` keeps every system log.

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: process.env['CHAOS_SHORT'] === '1' },
    only: { type: 'string', multiple: true },
    'keep-logs': { type: 'boolean', default: false },
  },
});

const write = (line: string) => process.stdout.write(`${line}\n`);
const reports = await runSuite({ short: values.short, keepLogs: values['keep-logs'], ...(values.only ? { only: values.only } : {}), log: (line) => write(`chaos: ${line}`) });
if (reports.length === 0) {
  write('chaos: no scenario matches');
  process.exit(2);
}
write('');
write(renderTable(reports));
process.exitCode = reports.every(passed) ? 0 : 1;
