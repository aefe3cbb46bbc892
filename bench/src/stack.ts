// Start-up time and memory of the whole system on the embedded default (what `npm start` runs):
// launch() to ready, first on an empty data directory (initdb, migrations, seeds), then again on
// the same directory; then the resident memory of every process of the launched tree.
//   node bench/src/stack.ts   (or `pnpm bench stack`)
import { fork } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { barChart } from './chart.ts';
import { machine, ratio, runStart, table, writeResult } from './report.ts';
import type { StackReady } from './stack-launcher.ts';
import { treeMemory, type TreeMemory } from './system.ts';

const GOAL = { seconds: 15, gib: 1.5 } as const;
/** Idle time after ready before memory is read, so start-up garbage has a chance to be collected. */
const SETTLE_MS = 5_000;
const LAUNCHER = fileURLToPath(new URL('./stack-launcher.ts', import.meta.url));

interface Start {
  ready: StackReady;
  /** fork() → ready message, ms. */
  wallMs: number;
  memory: TreeMemory;
}

async function startOnce(dataDir: string): Promise<Start> {
  const began = performance.now();
  const child = fork(LAUNCHER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const ready = await new Promise<StackReady>((resolve, reject) => {
      child.once('message', (message) => resolve(message as StackReady));
      child.once('exit', (code) => reject(new Error(`the launcher exited with code ${String(code)}`)));
      child.send(dataDir);
    });
    const wallMs = performance.now() - began;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return { ready, wallMs, memory: treeMemory(child.pid ?? 0) };
  } finally {
    if (child.exitCode === null) child.send('stop');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export async function run(): Promise<void> {
  const start = runStart();
  const root = mkdtempSync(join(tmpdir(), 'agora-bench-stack-'));
  // As root the embedded server runs as the `postgres` user, which must reach the data directory.
  chmodSync(root, 0o755);
  try {
    // Free ports are picked, then bound by the apps: on a busy machine another process may take one
    // in between (EADDRINUSE). Such a start is retried, the first start from an empty directory again.
    let dataDir = '';
    const attempt = async (what: string, fresh: boolean): Promise<Start> => {
      for (let tries = 1; ; tries += 1) {
        if (fresh) dataDir = join(root, `data-${tries}`);
        process.stdout.write(`${what}…\n`);
        try {
          return await startOnce(dataDir);
        } catch (error) {
          if (tries >= 3) throw error;
          process.stdout.write(`failed (${error instanceof Error ? error.message : String(error)}); again\n`);
        }
      }
    };
    const cold = await attempt('first start on an empty data directory', true);
    const warm = await attempt('second start on the same data directory', false);
    report(cold, warm, start);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const seconds = (ms: number) => `${(ms / 1_000).toFixed(1)} s`;
const mib = (kib: number) => `${(kib / 1_024).toFixed(0)} MiB`;
const GIB_KIB = 1_024 * 1_024;

/** A short name for a process: the launcher, PostgreSQL, or the app whose folder it runs in. */
function processName(entry: TreeMemory['processes'][number], root: number): string {
  if (entry.pid === root) return 'launcher (OIDC provider, 5 sidecars)';
  if (/(^|\/)postgres[: ]/.test(entry.name)) return 'PostgreSQL';
  return entry.cwd ? `${basename(entry.cwd)} app` : basename(entry.name.split(' ')[0] ?? entry.name);
}

function report(cold: Start, warm: Start, start: ReturnType<typeof runStart>): void {
  const memory = warm.memory;
  const root = memory.processes[0]?.pid ?? 0;
  const kinds = new Map<string, { count: number; rssKiB: number; pssKiB: number }>();
  for (const entry of memory.processes) {
    const name = processName(entry, root);
    const kind = kinds.get(name) ?? { count: 0, rssKiB: 0, pssKiB: 0 };
    kinds.set(name, { count: kind.count + 1, rssKiB: kind.rssKiB + entry.rssKiB, pssKiB: kind.pssKiB + (entry.pssKiB ?? 0) });
  }
  const startRows = [cold, warm].map((run, index) => [
    index === 0 ? 'first start (initdb, migrations, seeds)' : 'second start (same data directory)',
    seconds(run.ready.launchMs),
    seconds(run.wallMs),
    `< ${GOAL.seconds} s ${run.ready.launchMs < GOAL.seconds * 1_000 ? 'met' : 'not met'}`,
    ratio(run.ready.launchMs, GOAL.seconds * 1_000),
    run.ready.steps.map((step) => `${step.name} ${seconds(step.ms)}`).join(', '),
  ]);
  const startTable = table(['start', 'launch() → ready', 'process start → ready', 'goal', 'measured ÷ goal', 'steps (each from its own start)'], startRows);
  const memoryRows = [
    ...[...kinds].map(([name, kind]) => [`${name} × ${kind.count}`, mib(kind.rssKiB), memory.pssKiB === undefined ? '?' : mib(kind.pssKiB), '', '']),
    [
      `**whole tree, ${memory.processes.length} processes**`,
      `**${mib(memory.rssKiB)}**`,
      memory.pssKiB === undefined ? '?' : `**${mib(memory.pssKiB)}**`,
      `< ${GOAL.gib} GiB ${memory.rssKiB < GOAL.gib * GIB_KIB ? 'met' : 'not met'}`,
      ratio(memory.rssKiB, GOAL.gib * GIB_KIB),
    ],
  ];
  const memoryTable = table(['processes', 'VmRSS summed', 'Pss summed', 'goal', 'RSS ÷ goal'], memoryRows);
  const host = machine(start);
  process.stdout.write(`\n${startTable}\n\n${memoryTable}\n\n${host}\n`);
  const chart = writeResult(
    'stack.svg',
    barChart({
      title: 'Whole system on the embedded default: start-up and memory',
      unit: '',
      groups: [
        { label: 'launch() → ready (s)', bars: [{ label: 'first start', value: cold.ready.launchMs / 1_000 }, { label: 'second start', value: warm.ready.launchMs / 1_000 }], mark: { label: 'goal <', value: GOAL.seconds } },
        {
          label: 'memory of the process tree (MiB)',
          bars: [{ label: 'VmRSS summed', value: memory.rssKiB / 1_024 }, ...(memory.pssKiB === undefined ? [] : [{ label: 'Pss summed', value: memory.pssKiB / 1_024 }])],
          mark: { label: 'goal <', value: GOAL.gib * 1_024 },
        },
      ],
    }),
  );
  const path = writeResult(
    'stack.md',
    [
      '# Stack benchmark',
      '',
      `${start.date}, \`pnpm bench stack\` (bench/src/stack.ts): the whole system on **the embedded default** that \`npm start\` runs (embedded PostgreSQL in a fresh temporary data directory, the local OIDC provider, the five apps of dapr/dapr.yaml each a Node process, their local Dapr sidecars in the launcher's process, in-memory pub/sub), started by \`launch()\` in a launcher process of its own on free ports. Started twice: on the empty directory (initdb, migrations, seeds), then again on the same directory. "launch() → ready" is from the call until every app's health path answers; "process start → ready" adds Node's start-up and module loading in the launcher.`,
      '',
      `Memory is read ${SETTLE_MS / 1_000} s after the second start is ready, idle, from /proc/<pid>/status (VmRSS) and /proc/<pid>/smaps_rollup (Pss) of the launcher process and every process below it. Summed VmRSS counts shared pages (PostgreSQL's shared buffers, shared libraries) once per process and so overstates the total; Pss shares them out.`,
      '',
      `Machine: ${host}.`,
      '',
      startTable,
      '',
      memoryTable,
      '',
      '![start-up and memory](stack.svg)',
      '',
    ].join('\n'),
  );
  process.stdout.write(`written to ${path} and ${chart}\n`);
}

if (import.meta.main) await run();
