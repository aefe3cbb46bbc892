// What every benchmark shares: the machine it ran on, percentiles, and writing results/<name>.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

export const ascending = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

/** The load average when a run begins, to name the machine with at its end. */
export interface RunStart {
  load: number;
  date: string;
}

export const runStart = (): RunStart => ({ load: os.loadavg()[0] ?? 0, date: new Date().toISOString().slice(0, 10) });

/** CPU model, cores, Node, kernel and the load average at the start and end of a run. */
export function machine(start: RunStart): string {
  return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.release()}; load average ${start.load.toFixed(1)} when the run began, ${(os.loadavg()[0] ?? 0).toFixed(1)} when it ended (other work on the machine competes for its cores)`;
}

/** Writes results/<file> (a report or a chart) and answers its path. */
export function writeResult(file: string, content: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${file}`;
  writeFileSync(path, content);
  return path;
}

/** A markdown table from a header row and body rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

export const ratio = (value: number, peer: number): string => (peer > 0 && Number.isFinite(value) ? `${(value / peer).toFixed(2)}×` : '–');
