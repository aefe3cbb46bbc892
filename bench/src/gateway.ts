// Agora's gateway beside a stock @apollo/gateway + @apollo/server (stock-gateway.ts) on the same
// supergraph and the same running subgraphs, in one run: a catalog query (anonymous) and a deep
// federated query (signed in), autocannon from a process of its own (load.ts), one target at a time.
//   node bench/src/gateway.ts   (or `pnpm bench gateway`)
import { fork, type ChildProcess } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { barChart } from './chart.ts';
import type { LoadResult, LoadRun } from './load.ts';
import { machine, ratio, runStart, table, writeResult } from './report.ts';
import type { StockRun } from './stock-gateway.ts';
import { accessToken, appPid, launchSystem, postGraphQL, processCpuMs, serviceToken } from './system.ts';

const CONNECTIONS = 20;
const WARMUP_SECONDS = 3;
const SECONDS = 10;
const GOAL = 1.5;
const SUBGRAPHS = ['users', 'inventory', 'orders', 'payments'];
const GATEWAY_DIR = fileURLToPath(new URL('../../gateway', import.meta.url));

const QUERIES = [
  { name: 'catalog (anonymous)', signedIn: false, query: '{ products(first: 20) { totalCount nodes { id sku name price { amount currency } stock } } }' },
  { name: 'deep federated (alice)', signedIn: true, query: '{ me { orders { lines { product { name stock } } payment { status } } } }' },
] as const;

interface Target {
  name: string;
  url: string;
  pid: number | undefined;
}

interface Measured extends LoadResult {
  /** CPU time of the gateway's process per request, in ms. */
  cpuPerRequest: number | undefined;
}

/** Forks a bench process, sends it `message` and resolves with its first answer (the child keeps running). */
function forkChild<T>(file: string, message: unknown): { child: ChildProcess; answer: Promise<T> } {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const answer = new Promise<T>((resolve, reject) => {
    child.once('message', (value) => resolve(value as T));
    child.once('exit', (code) => reject(new Error(`${file} exited with code ${String(code)}`)));
  });
  child.send(message as object);
  return { child, answer };
}

async function load(target: Target, run: Omit<LoadRun, 'url'>): Promise<Measured> {
  const { answer } = forkChild<LoadResult>('./load.ts', { ...run, url: target.url });
  // The CPU window includes the warm-up; subtract it in proportion to time, which the steady load makes fair enough.
  const cpuBefore = target.pid === undefined ? undefined : processCpuMs(target.pid);
  const result = await answer;
  const cpuAfter = target.pid === undefined ? undefined : processCpuMs(target.pid);
  const share = run.seconds / (run.seconds + run.warmupSeconds);
  const cpuPerRequest = cpuBefore === undefined || cpuAfter === undefined ? undefined : ((cpuAfter - cpuBefore) * share) / result.requests;
  return { ...result, cpuPerRequest };
}

export async function run(): Promise<void> {
  const start = runStart();
  const system = await launchSystem();
  const children: ChildProcess[] = [];
  try {
    const gatewayApp = system.apps.find((app) => app.id === 'gateway');
    if (!gatewayApp) throw new Error('the run file has no gateway');
    const viaSidecar = Object.fromEntries(SUBGRAPHS.map((name) => [name, `${gatewayApp.sidecarUrl}/v1.0/invoke/${name}/method/graphql`]));
    const direct = Object.fromEntries(SUBGRAPHS.map((name) => [name, system.apps.find((app) => app.id === name)?.url ?? '']));
    const service = await serviceToken(system.issuer);
    const startStock = async (subgraphUrls: Record<string, string>): Promise<{ url: string; pid: number | undefined }> => {
      const { child, answer } = forkChild<{ url: string }>('./stock-gateway.ts', { subgraphUrls, serviceToken: service } satisfies StockRun);
      children.push(child);
      return { url: (await answer).url, pid: child.pid };
    };
    const stockSidecar = await startStock(viaSidecar);
    const stockDirect = await startStock(direct);
    const targets: Target[] = [
      { name: 'Agora gateway', url: system.gatewayUrl, pid: appPid(process.pid, GATEWAY_DIR) },
      { name: 'stock, via the sidecar', ...stockSidecar },
      { name: 'stock, direct', ...stockDirect },
    ];

    const results: { query: string; measured: Measured[] }[] = [];
    for (const query of QUERIES) {
      const token = query.signedIn ? await accessToken(system.issuer, 'alice') : undefined;
      const body = JSON.stringify({ query: query.query });
      const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
      // Every target must answer the same data without errors before it is measured.
      const answers = await Promise.all(targets.map((target) => postGraphQL(target.url, query.query, token ? { token } : {})));
      answers.forEach((answer, index) => {
        if (answer.status !== 200 || answer.body.errors || !answer.body.data) throw new Error(`${targets[index]?.name ?? '?'} answered ${query.name} with HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
        if (!isDeepStrictEqual(answer.body.data, answers[0]?.body.data)) throw new Error(`${targets[index]?.name ?? '?'} answered ${query.name} with other data than Agora's gateway`);
      });
      const measured: Measured[] = [];
      for (const [index, target] of targets.entries()) {
        process.stdout.write(`${query.name}: ${target.name}, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s…\n`);
        measured.push(await load(target, { headers, body, expectBody: answers[index]?.text ?? '', connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS, seconds: SECONDS }));
      }
      results.push({ query: query.name, measured });
    }
    report(results, targets, start);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await system.remove();
  }
}

function report(results: { query: string; measured: Measured[] }[], targets: Target[], start: ReturnType<typeof runStart>): void {
  const rows = results.flatMap(({ query, measured }) => {
    const agora = measured[0];
    return measured.map((result, index) => [
      query,
      targets[index]?.name ?? '?',
      result.perSecond.toFixed(0),
      index === 0 ? '1' : ratio(agora?.perSecond ?? 0, result.perSecond),
      result.p50.toFixed(1),
      result.p95.toFixed(1),
      result.p99.toFixed(1),
      result.cpuPerRequest === undefined ? '?' : result.cpuPerRequest.toFixed(2),
      `${result.non2xx} / ${result.errors} / ${result.mismatches}`,
    ]);
  });
  const summary = table(['query', 'gateway', 'req/s', 'Agora ÷ this (req/s)', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU ms/req', 'non-2xx / errors / wrong body'], rows);
  const verdicts = results.map(({ query, measured }) => {
    const agora = measured[0]?.perSecond ?? 0;
    const peer = measured[1]?.perSecond ?? 0;
    return `- ${query}: Agora ÷ stock (both through the gateway's sidecar) = ${ratio(agora, peer)}; goal ≥ ${GOAL}× ${agora >= GOAL * peer ? 'met' : 'not met'}.`;
  });
  const host = machine(start);
  process.stdout.write(`\n${summary}\n\n${verdicts.join('\n')}\n\n${host}\n`);
  const chart = writeResult(
    'gateway.svg',
    barChart({
      title: `Gateway throughput, ${CONNECTIONS} connections, ${SECONDS} s each (req/s)`,
      unit: 'req/s',
      groups: results.map(({ query, measured }) => ({
        label: query,
        bars: measured.map((result, index) => ({ label: targets[index]?.name ?? '?', value: result.perSecond })),
        mark: { label: `goal ${GOAL}× stock`, value: GOAL * (measured[1]?.perSecond ?? 0) },
      })),
    }),
  );
  const path = writeResult(
    'gateway.md',
    [
      '# Gateway benchmark',
      '',
      `${start.date}, \`pnpm bench gateway\` (bench/src/gateway.ts). One system launched as the end-to-end tests launch it (the machine's PostgreSQL, sidecars in the launcher's process, rate limits raised out of the way, LOG_LEVEL=warn, NODE_ENV=development as in dapr/dapr.yaml). Three gateways serve gateway/supergraph.graphql over the same four running subgraphs:`,
      '',
      "- **Agora gateway**: gateway/src as launched, reaching subgraphs through its Dapr sidecar's service invocation (`/v1.0/invoke/<app>/method/graphql`), with its authentication, limits, rate-limit and telemetry plugins.",
      "- **stock, via the sidecar**: `@apollo/gateway` 2.14.4 in `@apollo/server` 5.5.1 `startStandaloneServer`, default plugins, a `RemoteGraphQLDataSource` whose `willSendRequest` forwards the Authorization header (or, for anonymous callers, the same role-less service token Agora's gateway sends: subgraphs refuse requests without one); it fetches subgraphs **the same way Agora's does**, through the gateway app's sidecar. This is the peer of the goal.",
      '- **stock, direct**: the same stock gateway fetching the subgraphs directly (their own ports), to show what the sidecar hop costs.',
      '',
      `Load: autocannon 9 in a process of its own, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up then ${SECONDS} s measured, one gateway at a time, same request bytes for all. Every gateway's answer was checked to carry the same data and no errors before its run; during the run each response must equal that answer byte for byte (else "wrong body"). Latency percentiles are over every response of the measured run. Gateway CPU is the gateway process's user + system time over its run (warm-up share subtracted) per request: less sensitive than req/s to other work on the machine.`,
      '',
      `Machine: ${host}.`,
      '',
      summary,
      '',
      ...verdicts,
      '',
      '![gateway throughput](gateway.svg)',
      '',
    ].join('\n'),
  );
  process.stdout.write(`written to ${path} and ${chart}\n`);
}

if (import.meta.main) await run();
