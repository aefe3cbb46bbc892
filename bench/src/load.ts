// The load generator of the gateway benchmark, in a process of its own so that it does not share
// an event loop with what it measures: autocannon against one URL, a warm-up, then the measured
// run. Started by gateway.ts, which sends a LoadRun over IPC and receives a LoadResult.
import autocannon from 'autocannon';

export interface LoadRun {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The exact response body every answer must have (anything else counts as a mismatch). */
  expectBody: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
}

export interface LoadResult {
  /** Every response's latency, ms. */
  latencies: number[];
  seconds: number;
  non2xx: number;
  errors: number;
  mismatches: number;
}

function fire(run: LoadRun, seconds: number, latencies?: number[]): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: run.url, method: 'POST', headers: run.headers, body: run.body, expectBody: run.expectBody, connections: run.connections, duration: seconds },
      (error: unknown, result) => (error ? reject(error instanceof Error ? error : new Error('autocannon failed', { cause: error })) : resolve(result)),
    );
    if (latencies) instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  });
}

async function measure(run: LoadRun): Promise<LoadResult> {
  await fire(run, run.warmupSeconds);
  const latencies: number[] = [];
  const result = await fire(run, run.seconds, latencies);
  return {
    latencies,
    seconds: result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    mismatches: result.mismatches,
  };
}

process.once('message', (run: LoadRun) => {
  measure(run).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`load generator failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
});
