// Agora's gateway beside a stock @apollo/gateway + @apollo/server (stock-gateway.ts) on the same
// supergraph and the same running subgraphs, in one run: a catalog query (anonymous) and a deep
// federated query (signed in), autocannon from a process of its own (load.ts), one target at a time.
//   node bench/src/gateway.ts   (or `pnpm bench gateway`)
import { fork, type ChildProcess } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readRunFile } from '@agora/launcher';
import { barChart } from './chart.ts';
import type { LoadResult, LoadRun } from './load.ts';
import { ascending, machine, percentile, ratio, runStart, table, writeResult } from './report.ts';
import type { AgoraGatewayRun } from './agora-gateway.ts';
import type { StockRun } from './stock-gateway.ts';
import { availableParallelism as availableCores } from 'node:os';
import { accessToken, appPid, appPids, connectDatabase, cpuBetween, cpuSample, launchSystem, postGraphQL, processCpuMs, RUN_FILE, serviceToken, UNLIMITED, type BenchSystem, type PgClient } from './system.ts';

const CONNECTIONS = 20;
/** Targets take turns, ROUNDS times, so that other load on the machine falls on all of them alike. */
const ROUNDS = 3;
const WARMUP_SECONDS = 1;
const SECONDS = 4;
const GOAL = 1.5;
const SUBGRAPHS = ['users', 'inventory', 'orders', 'payments'];
/** Agora's gateway code in bench processes, as launched (telemetry SDK on, default fetcher) and with one change each. */
const EXPERIMENTS = [
  { name: 'as launched', telemetry: true, fetcher: 'default', share: true },
  { name: 'no shared fetches', telemetry: true, fetcher: 'default', share: false },
  { name: 'Node fetch', telemetry: true, fetcher: 'fetch', share: true },
  { name: 'no telemetry SDK', telemetry: false, fetcher: 'default', share: true },
  { name: 'Node fetch, no telemetry SDK', telemetry: false, fetcher: 'fetch', share: true },
] as const;
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

interface Round extends LoadResult {
  /** CPU time of the gateway's process over the measured run, ms. */
  cpuMs: number | undefined;
  /** CPU time of the rest of the system over the measured run, ms: the subgraphs, this process (the sidecars), PostgreSQL's backends. */
  restCpuMs: number;
}

interface Measured {
  requests: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  errors: number;
  mismatches: number;
  /** CPU time of the gateway's process per request, in ms. */
  cpuPerRequest: number | undefined;
  /** CPU time of the rest of the system per request, in ms. */
  restCpuPerRequest: number;
}

function combine(rounds: readonly Round[]): Measured {
  const latencies = ascending(rounds.flatMap((round) => round.latencies));
  const seconds = rounds.reduce((sum, round) => sum + round.seconds, 0);
  const sum = (pick: (round: Round) => number) => rounds.reduce((total, round) => total + pick(round), 0);
  const cpu = rounds.every((round) => round.cpuMs !== undefined) ? sum((round) => round.cpuMs ?? 0) : undefined;
  return {
    requests: latencies.length,
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    non2xx: sum((round) => round.non2xx),
    errors: sum((round) => round.errors),
    mismatches: sum((round) => round.mismatches),
    cpuPerRequest: cpu === undefined ? undefined : cpu / latencies.length,
    restCpuPerRequest: sum((round) => round.restCpuMs) / latencies.length,
  };
}

/**
 * The Node options the run file gives the gateway app (a smaller young generation, ADR 0019):
 * every gateway measured here runs with them, so that they differ in code only.
 */
const GATEWAY_NODE_OPTIONS = readRunFile(RUN_FILE).apps.find((app) => app.id === 'gateway')?.env['NODE_OPTIONS'];

/** Forks a bench process, sends it `message` and resolves with its first answer (the child keeps running). */
function forkChild<T>(file: string, message: unknown, nodeOptions?: string): { child: ChildProcess; answer: Promise<T> } {
  const env = nodeOptions === undefined ? process.env : { ...process.env, NODE_OPTIONS: nodeOptions };
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [], env });
  const answer = new Promise<T>((resolve, reject) => {
    child.once('message', (value) => resolve(value as T));
    child.once('exit', (code) => reject(new Error(`${file} exited with code ${String(code)}`)));
  });
  child.send(message as object);
  return { child, answer };
}

/** Samples the CPU used so far by the system apart from the gateways: the subgraph apps, this process (the sidecars), PostgreSQL's backends. */
type RestSample = () => Promise<Map<string, number>>;

function restOfSystem(system: BenchSystem, database: PgClient): RestSample {
  const subgraphs = new Map([...appPids()].filter(([id]) => SUBGRAPHS.includes(id)));
  return () => cpuSample(system, subgraphs, database, 'bench process: sidecars, launcher');
}

async function load(target: Target, run: Omit<LoadRun, 'url'>, rest: RestSample): Promise<Round> {
  const restBefore = await rest();
  const { answer } = forkChild<LoadResult>('./load.ts', { ...run, url: target.url });
  // The CPU window includes the warm-up; subtract it in proportion to time, which the steady load makes fair enough.
  const cpuBefore = target.pid === undefined ? undefined : processCpuMs(target.pid);
  const result = await answer;
  const cpuAfter = target.pid === undefined ? undefined : processCpuMs(target.pid);
  const restMs = cpuBetween(restBefore, await rest()).reduce((sum, part) => sum + part.ms, 0);
  const share = run.seconds / (run.seconds + run.warmupSeconds);
  return { ...result, cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) * share, restCpuMs: restMs * share };
}

export async function run(): Promise<void> {
  const start = runStart();
  const system = await launchSystem();
  const children: ChildProcess[] = [];
  let database: PgClient | undefined;
  try {
    const gatewayApp = system.apps.find((app) => app.id === 'gateway');
    if (!gatewayApp) throw new Error('the run file has no gateway');
    const viaSidecar = Object.fromEntries(SUBGRAPHS.map((name) => [name, `${gatewayApp.sidecarUrl}/v1.0/invoke/${name}/method/graphql`]));
    const direct = Object.fromEntries(SUBGRAPHS.map((name) => [name, system.apps.find((app) => app.id === name)?.url ?? '']));
    const service = await serviceToken(system.issuer);
    const ordersDatabase = system.apps.find((app) => app.id === 'orders')?.database;
    if (!ordersDatabase) throw new Error('the orders app has no database');
    database = await connectDatabase(ordersDatabase);
    const rest = restOfSystem(system, database);
    const startStock = async (subgraphUrls: Record<string, string>): Promise<{ url: string; pid: number | undefined }> => {
      const { child, answer } = forkChild<{ url: string }>('./stock-gateway.ts', { subgraphUrls, serviceToken: service } satisfies StockRun, GATEWAY_NODE_OPTIONS);
      children.push(child);
      return { url: (await answer).url, pid: child.pid };
    };
    const stockSidecar = await startStock(viaSidecar);
    const stockDirect = await startStock(direct);
    // The experiments: Agora's gateway code as launched (through the sidecar), and with one change each.
    const startAgora = async ({ telemetry, fetcher, share }: (typeof EXPERIMENTS)[number]): Promise<{ url: string; pid: number | undefined }> => {
      const env = { NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', OIDC_ISSUER_URL: system.issuer, DAPR_HTTP_PORT: new URL(gatewayApp.sidecarUrl).port, SUBGRAPH_SHARE_ANONYMOUS_QUERIES: String(share), ...UNLIMITED };
      const { child, answer } = forkChild<{ url: string }>('./agora-gateway.ts', { env, telemetry, fetcher } satisfies AgoraGatewayRun, GATEWAY_NODE_OPTIONS);
      children.push(child);
      return { url: (await answer).url, pid: child.pid };
    };
    const targets: Target[] = [
      { name: 'Agora gateway', url: system.gatewayUrl, pid: appPid(process.pid, GATEWAY_DIR) },
      { name: 'stock, via the sidecar', ...stockSidecar },
      { name: 'stock, direct', ...stockDirect },
    ];
    for (const experiment of EXPERIMENTS) targets.push({ name: `experiment: Agora, ${experiment.name}`, ...(await startAgora(experiment)) });

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
      const rounds: Round[][] = targets.map(() => []);
      for (let round = 1; round <= ROUNDS; round += 1) {
        process.stdout.write(`${query.name}: round ${round} of ${ROUNDS}, ${targets.length} gateways, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s each…\n`);
        for (const [index, target] of targets.entries()) {
          rounds[index]?.push(await load(target, { headers, body, expectBody: answers[index]?.text ?? '', connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS, seconds: SECONDS }, rest));
        }
      }
      results.push({ query: query.name, measured: rounds.map(combine) });
    }
    report(results, targets, start);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await database?.end();
    await system.remove();
  }
}

/** How many of the machine's cores the gateway and the rest of the system kept busy together. */
function coresBusy(result: Measured): string {
  return result.cpuPerRequest === undefined ? '?' : (((result.cpuPerRequest + result.restCpuPerRequest) * result.perSecond) / 1_000).toFixed(2);
}

/**
 * The most a gateway could gain over `peer` on a machine whose cores the system saturates: its
 * requests' CPU (gateway + rest) over the rest's alone, i.e. the throughput of a gateway that
 * costs nothing while the subgraphs, the sidecars and PostgreSQL do the same work per request.
 */
function ceilingOver(peer: Measured | undefined): number | undefined {
  if (peer?.cpuPerRequest === undefined || peer.restCpuPerRequest <= 0) return undefined;
  return (peer.cpuPerRequest + peer.restCpuPerRequest) / peer.restCpuPerRequest;
}

function report(results: { query: string; measured: Measured[] }[], targets: Target[], start: ReturnType<typeof runStart>): void {
  const MAIN = 3;
  const rows = results.flatMap(({ query, measured }) => {
    const agora = measured[0];
    return measured.slice(0, MAIN).map((result, index) => [
      query,
      targets[index]?.name ?? '?',
      result.perSecond.toFixed(0),
      index === 0 ? '1' : ratio(agora?.perSecond ?? 0, result.perSecond),
      result.p50.toFixed(1),
      result.p95.toFixed(1),
      result.p99.toFixed(1),
      result.cpuPerRequest === undefined ? '?' : result.cpuPerRequest.toFixed(2),
      result.restCpuPerRequest.toFixed(2),
      coresBusy(result),
      `${result.non2xx} / ${result.errors} / ${result.mismatches}`,
    ]);
  });
  const summary = table(
    ['query', 'gateway', 'req/s', 'Agora ÷ this (req/s)', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU ms/req', 'rest of the system CPU ms/req', `cores busy (of ${availableCores()})`, 'non-2xx / errors / wrong body'],
    rows,
  );
  const verdicts = results.map(({ query, measured }) => {
    const agora = measured[0]?.perSecond ?? 0;
    const peer = measured[1]?.perSecond ?? 0;
    const unshared = measured[MAIN + EXPERIMENTS.findIndex((experiment) => !experiment.share)]?.perSecond ?? 0;
    const ceiling = ceilingOver(measured[1]);
    const outOfReach = ceiling !== undefined && ceiling < GOAL && agora < GOAL * peer;
    const ceilingText =
      ceiling === undefined
        ? ''
        : ` Ceiling for the same work below the gateway: a gateway using no CPU at all, with the subgraphs, sidecars and PostgreSQL doing for each request what they did for stock's, would reach ${ceiling.toFixed(2)}× stock on this machine${outOfReach ? `; no gateway that sends the subgraphs the same work can meet the goal here` : ''}.`;
    return `- ${query}: Agora ÷ stock (both through the gateway's sidecar) = ${ratio(agora, peer)}; goal ≥ ${GOAL}× ${agora >= GOAL * peer ? 'met' : 'not met'}. Without shared fetches (experiment "no shared fetches" ÷ stock): ${ratio(unshared, peer)}.${ceilingText}`;
  });
  const experiment = table(
    ['query', 'Agora gateway code', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'gateway CPU ms/req', 'this ÷ as launched (req/s)', 'this ÷ as launched (CPU/req)', 'non-2xx / errors / wrong body'],
    results.flatMap(({ query, measured }) => {
      const baseline = measured[MAIN];
      return measured.slice(MAIN).map((result, index) => [
        query,
        EXPERIMENTS[index]?.name ?? '?',
        result.perSecond.toFixed(0),
        result.p50.toFixed(1),
        result.p95.toFixed(1),
        result.p99.toFixed(1),
        result.cpuPerRequest === undefined ? '?' : result.cpuPerRequest.toFixed(2),
        index === 0 ? '1' : ratio(result.perSecond, baseline?.perSecond ?? 0),
        index === 0 ? '1' : result.cpuPerRequest === undefined || baseline?.cpuPerRequest === undefined ? '?' : ratio(result.cpuPerRequest, baseline.cpuPerRequest),
        `${result.non2xx} / ${result.errors} / ${result.mismatches}`,
      ]);
    }),
  );
  const host = machine(start);
  process.stdout.write(`\n${summary}\n\n${verdicts.join('\n')}\n\n${experiment}\n\n${host}\n`);
  const chart = writeResult(
    'gateway.svg',
    barChart({
      title: `Gateway throughput, ${CONNECTIONS} connections, ${ROUNDS} × ${SECONDS} s each (req/s)`,
      unit: 'req/s',
      groups: results.map(({ query, measured }) => ({
        label: query,
        bars: measured.slice(0, MAIN).map((result, index) => ({ label: targets[index]?.name ?? '?', value: result.perSecond })),
        mark: { label: `goal ${GOAL}× stock`, value: GOAL * (measured[1]?.perSecond ?? 0) },
      })),
    }),
  );
  const path = writeResult(
    'gateway.md',
    [
      '# Gateway benchmark',
      '',
      `${start.date}, \`pnpm bench gateway\` (bench/src/gateway.ts). One system launched as the end-to-end tests launch it (the machine's PostgreSQL, sidecars in the launcher's process, rate limits raised out of the way, LOG_LEVEL=warn, NODE_ENV=development as in dapr/dapr.yaml). Three gateways serve gateway/supergraph.graphql over the same four running subgraphs, each with the Node options dapr/dapr.yaml gives the gateway app (\`NODE_OPTIONS=${GATEWAY_NODE_OPTIONS ?? ''}\`):`,
      '',
      "- **Agora gateway**: gateway/src as launched, reaching subgraphs through its Dapr sidecar's service invocation (`/v1.0/invoke/<app>/method/graphql`), with its authentication, limits, rate-limit and telemetry plugins. An anonymous caller's query joins an identical subgraph fetch already in flight (docs/adr/0021); with every connection sending the same catalog query, this load is the best case for that.",
      "- **stock, via the sidecar**: `@apollo/gateway` 2.14.4 in `@apollo/server` 5.5.1 `startStandaloneServer`, default plugins, a `RemoteGraphQLDataSource` whose `willSendRequest` forwards the Authorization header (or, for anonymous callers, the same role-less service token Agora's gateway sends: subgraphs refuse requests without one); it fetches subgraphs **the same way Agora's does**, through the gateway app's sidecar. This is the peer of the goal.",
      '- **stock, direct**: the same stock gateway fetching the subgraphs directly (their own ports), to show what the sidecar hop costs.',
      '',
      `Load: autocannon 9 in a process of its own, ${CONNECTIONS} connections, one gateway at a time, same request bytes for all; the gateways take turns ${ROUNDS} times (${WARMUP_SECONDS} s warm-up then ${SECONDS} s measured each turn) so that other load on the machine falls on all alike, and each figure combines its ${ROUNDS} turns. Every gateway's answer was checked to carry the same data and no errors before its run; during the run each response must equal that answer byte for byte (else "wrong body"). Latency percentiles are over every response of the measured run. Gateway CPU is the gateway process's user + system time over its run (warm-up share subtracted) per request: less sensitive than req/s to other work on the machine. The rest of the system's CPU, taken over the same window, is the four subgraphs' processes, this bench process (the launcher with the sidecars; the load is in a process of its own and not counted) and the PostgreSQL backends serving the system's databases; cores busy is both together per second of the run. While the cores are saturated, the gateway's throughput is bounded by their CPU per request, which gives the ceiling in the verdicts below.`,
      '',
      `Machine: ${host}.`,
      '',
      summary,
      '',
      ...verdicts,
      '',
      '![gateway throughput](gateway.svg)',
      '',
      '## Experiments: cheaper per-request work in the gateway',
      '',
      "Agora's gateway code (gateway/src `startGateway`, the launched environment, through the same sidecar) started five more times in bench processes of its own (bench/src/agora-gateway.ts), measured back to back with the same load as above. **as launched**: the OpenTelemetry SDK started first, as gateway/src/index.ts does; with no exporter configured its spans go to a no-op processor, but its instrumentations (http, undici, GraphQL parse/validate/execute) still create them on every request. **no shared fetches**: `SUBGRAPH_SHARE_ANONYMOUS_QUERIES=false`, every anonymous query sends its own subgraph fetches, as the stock gateway does (the signed-in deep query never shares); the Node fetch experiments do not share either (they replace the fetcher that shares). **Node fetch**: every data source fetches with Node's built-in fetch (undici, keep-alive pool) instead of `@apollo/gateway`'s default make-fetch-happen (an HTTP-cache-aware fetch over minipass streams), i.e. `new SubgraphDataSource({ url, fetcher: fetch })` in gateway/src/server.ts. **no telemetry SDK**: the SDK not started, as it could be when no OTEL_* exporter is configured.",
      '',
      experiment,
      '',
    ].join('\n'),
  );
  process.stdout.write(`written to ${path} and ${chart}\n`);
}

if (import.meta.main) await run();
