// Service invocation overhead of the local sidecar: the latency an app → its sidecar → the target's
// sidecar → target app call adds over the app calling the target directly, as Dapr measures it
// (1 KB payload at a fixed 1,000 requests/s). The target app and both sidecars run in processes of
// their own (as with daprd); this process is the calling app. 127.0.0.1 only.
//   node bench/src/invocation.ts   (or `pnpm bench invocation`)
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from '@agora/testing';
import { machine as describeMachine, percentile, runStart, type RunStart } from './report.ts';

const RATE = 1_000;
const PAYLOAD_BYTES = 1_024;
/** Keep-alive connections from the caller (to the app, or to its sidecar). */
const CONNECTIONS = 16;
const WARMUP = 2_000;
/** Direct and through-sidecar runs alternate, so that other load on the machine hits both alike. */
const ROUNDS = 5;
const PER_ROUND = 2_000;
/** Requests per path sent one at a time after the fixed-rate runs. */
const SEQUENTIAL = 2_000;
/** Dapr 1.17's published added latency (HTTP, app → sidecar → sidecar → app vs direct), ms. */
const DAPR = { p50: 1.06, p90: 1.48, p99: 2.9 } as const;
const RESULTS = fileURLToPath(new URL('../results/invocation.md', import.meta.url));
const SIDECAR_MAIN = fileURLToPath(new URL('./main.ts', import.meta.resolve('@agora/sidecar')));
const SELF = fileURLToPath(import.meta.url);
const CALLEE = 'callee';

/** The target app: echoes what it is sent. Runs in a child process; tells its port over IPC. */
async function serveApp(): Promise<void> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
  process.once('disconnect', () => process.exit(0));
}

async function untilAnswers(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${String(child.exitCode)}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer on ${url}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A sidecar as its own process, with daprd's flags. */
async function startSidecarProcess(appId: string, resourcesDir: string, options: { appPort?: number; peers?: string }): Promise<{ child: ChildProcess; url: string }> {
  const httpPort = await freePort();
  const args = [SIDECAR_MAIN, '--app-id', appId, '--dapr-http-port', String(httpPort), '--dapr-grpc-port', '0', '--resources-path', resourcesDir, '--log-level', 'error'];
  if (options.appPort !== undefined) args.push('--app-port', String(options.appPort));
  if (options.peers) args.push('--peers', options.peers);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${httpPort}`;
  await untilAnswers(`${url}/v1.0/healthz/outbound`, child, `the ${appId} sidecar`);
  return { child, url };
}

/** One POST of `payload`; resolves with its latency in ms once the whole answer has arrived. */
function post(agent: Agent, url: URL, payload: Buffer): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': payload.length } },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => {
          if (res.statusCode !== 200 || bytes !== payload.length) reject(new Error(`${url.href} answered ${String(res.statusCode)} with ${bytes} bytes`));
          else resolve(performance.now() - started);
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `count` requests sent at a fixed rate (open loop: a slow answer does not slow the sending). */
async function atFixedRate(agent: Agent, url: URL, payload: Buffer, count: number): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: Promise<number>[] = [];
  const started = performance.now();
  while (latencies.length < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) * RATE) / 1_000) + 1);
    while (latencies.length < due) latencies.push(post(agent, url, payload));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const settled = await Promise.all(latencies);
  return { latencies: settled, seconds: (performance.now() - started) / 1_000 };
}

/** One request at a time: the hops' own latency, without queueing behind other requests. */
async function sequential(agent: Agent, url: URL, payload: Buffer, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i += 1) latencies.push(await post(agent, url, payload));
  return latencies;
}

/** CPU time (ms) a process has used, from /proc (Linux; USER_HZ is 100 there); undefined elsewhere. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

interface Figures {
  p50: number;
  p90: number;
  p99: number;
}

const figures = (latencies: number[]): Figures => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) };
};

interface Run {
  direct: number[];
  sidecars: number[];
  directSeconds: number;
  sidecarSeconds: number;
}

interface Measured {
  fixedRate: Run;
  sequential: { direct: number[]; sidecars: number[] };
  /** CPU ms per call through the sidecars, of the caller's and the target's sidecar (fixed-rate phase). */
  cpuPerCall: { caller: number | undefined; callee: number | undefined };
  start: RunStart;
}

export async function run(): Promise<void> {
  const resourcesDir = mkdtempSync(join(os.tmpdir(), 'agora-bench-invocation-'));
  const children: ChildProcess[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    const app = fork(SELF, ['app'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
    children.push(app);
    const [appPort] = (await once(app, 'message')) as [number];
    const callee = await startSidecarProcess(CALLEE, resourcesDir, { appPort });
    children.push(callee.child);
    const caller = await startSidecarProcess('caller', resourcesDir, { peers: `${CALLEE}=${callee.url}` });
    children.push(caller.child);

    const payload = Buffer.alloc(PAYLOAD_BYTES, 'x');
    const direct = new URL(`http://127.0.0.1:${appPort}/echo`);
    const viaSidecars = new URL(`${caller.url}/v1.0/invoke/${CALLEE}/method/echo`);
    const start = runStart();
    process.stdout.write(`${WARMUP} requests per path to warm up; ${ROUNDS} rounds of ${PER_ROUND} per path, alternating, at ${RATE}/s with ${PAYLOAD_BYTES} B; then ${SEQUENTIAL} per path one at a time…\n`);
    await atFixedRate(agent, direct, payload, WARMUP);
    await atFixedRate(agent, viaSidecars, payload, WARMUP);
    const fixedRate: Run = { direct: [], sidecars: [], directSeconds: 0, sidecarSeconds: 0 };
    const cpu = { caller: 0, callee: 0, known: true };
    for (let round = 0; round < ROUNDS; round += 1) {
      const d = await atFixedRate(agent, direct, payload, PER_ROUND);
      const before = [cpuMs(caller.child.pid), cpuMs(callee.child.pid)];
      const s = await atFixedRate(agent, viaSidecars, payload, PER_ROUND);
      const after = [cpuMs(caller.child.pid), cpuMs(callee.child.pid)];
      if (before[0] === undefined || before[1] === undefined || after[0] === undefined || after[1] === undefined) cpu.known = false;
      else {
        cpu.caller += after[0] - before[0];
        cpu.callee += after[1] - before[1];
      }
      fixedRate.direct.push(...d.latencies);
      fixedRate.sidecars.push(...s.latencies);
      fixedRate.directSeconds += d.seconds;
      fixedRate.sidecarSeconds += s.seconds;
    }
    const unloaded = { direct: [] as number[], sidecars: [] as number[] };
    for (let round = 0; round < ROUNDS; round += 1) {
      unloaded.direct.push(...(await sequential(agent, direct, payload, SEQUENTIAL / ROUNDS)));
      unloaded.sidecars.push(...(await sequential(agent, viaSidecars, payload, SEQUENTIAL / ROUNDS)));
    }
    const calls = fixedRate.sidecars.length;
    report({
      fixedRate,
      sequential: unloaded,
      cpuPerCall: cpu.known ? { caller: cpu.caller / calls, callee: cpu.callee / calls } : { caller: undefined, callee: undefined },
      start,
    });
  } finally {
    agent.destroy();
    const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
    const exited = running.map((child) => once(child, 'exit'));
    for (const child of running) child.kill('SIGTERM');
    await Promise.all(exited);
    rmSync(resourcesDir, { recursive: true, force: true });
  }
}

function table(directLatencies: number[], sidecarLatencies: number[]): string {
  const direct = figures(directLatencies);
  const sidecars = figures(sidecarLatencies);
  const row = (name: keyof Figures) => {
    const added = sidecars[name] - direct[name];
    return `| ${name} | ${direct[name].toFixed(2)} ms | ${sidecars[name].toFixed(2)} ms | +${added.toFixed(2)} ms | +${DAPR[name].toFixed(2)} ms | ${added <= DAPR[name] ? 'met' : 'not met'} |`;
  };
  return [
    '| | direct | through both sidecars | added | Dapr 1.17 added (published) | goal: at or below Dapr |',
    '| --- | --- | --- | --- | --- | --- |',
    row('p50'),
    row('p90'),
    row('p99'),
  ].join('\n');
}

function report(measured: Measured): void {
  const { fixedRate, sequential: unloaded, cpuPerCall, start } = measured;
  const atRate = table(fixedRate.direct, fixedRate.sidecars);
  const oneAtATime = table(unloaded.direct, unloaded.sidecars);
  const rates = `achieved ${(fixedRate.direct.length / fixedRate.directSeconds).toFixed(0)} req/s direct, ${(fixedRate.sidecars.length / fixedRate.sidecarSeconds).toFixed(0)} req/s through the sidecars`;
  const cpu =
    cpuPerCall.caller === undefined || cpuPerCall.callee === undefined
      ? 'CPU per call: not measured (no /proc on this system).'
      : `CPU per call through the sidecars: caller's sidecar ${cpuPerCall.caller.toFixed(2)} ms, target's sidecar ${cpuPerCall.callee.toFixed(2)} ms, so ${(((cpuPerCall.caller + cpuPerCall.callee) * RATE) / 1_000).toFixed(2)} of a core for the two at ${RATE} req/s (Dapr documents 0.48 vCPU per sidecar at that rate).`;
  const machine = describeMachine(start);
  process.stdout.write(`\nAt ${RATE} req/s:\n${atRate}\n\nOne at a time:\n${oneAtATime}\n\n${rates}; ${cpu}\non ${machine}\n`);
  mkdirSync(fileURLToPath(new URL('../results/', import.meta.url)), { recursive: true });
  writeFileSync(
    RESULTS,
    [
      '# Service invocation benchmark',
      '',
      `${new Date().toISOString().slice(0, 10)}, \`node bench/src/invocation.ts\`: POSTs of ${PAYLOAD_BYTES} B (echoed back). Direct: the calling app (the benchmark process) to the target app (a process of its own). Through both sidecars: the calling app → its sidecar (\`dapr/src/main.ts\`, a process) → the target's sidecar (another process) → the target app, by \`/v1.0/invoke/${CALLEE}/method/echo\`, no components or resiliency policies, HTTP between the sidecars. Latency is from sending a request to receiving the last byte of its answer; "added" is the difference of the two percentiles. Everything on 127.0.0.1. Dapr's figures come from its own performance tests on its own hardware (1,000 requests/s with 1 KB payloads, per its documentation, with gRPC between the sidecars), so they compare in kind, not machine for machine.`,
      '',
      `Machine: ${machine}.`,
      '',
      `## At ${RATE} requests/s (Dapr's method)`,
      '',
      `${WARMUP} per path to warm up, then ${ROUNDS} alternating rounds of ${PER_ROUND} per path, sent at a fixed rate (open loop) over ${CONNECTIONS} keep-alive connections; ${rates}.`,
      '',
      atRate,
      '',
      cpu,
      '',
      '## One request at a time',
      '',
      `${SEQUENTIAL} per path in ${ROUNDS} alternating rounds, each request sent when the previous one has been answered: the hops' own cost, without queueing.`,
      '',
      oneAtATime,
      '',
    ].join('\n'),
  );
  process.stdout.write(`written to ${RESULTS}\n`);
}

if (import.meta.main) {
  if (process.argv[2] === 'app') await serveApp();
  else await run();
}
