// Agora's gateway code (gateway/src startGateway) in a bench process of its own, for trying a
// change without editing gateway/src. `telemetry`: start the OpenTelemetry SDK first, as
// gateway/src/index.ts does (its instrumentations run even with no exporter configured).
// `fetcher: 'fetch'`: every RemoteGraphQLDataSource (and so Agora's SubgraphDataSource) fetches
// subgraphs with Node's own fetch (undici, keep-alive pool) instead of @apollo/gateway's default
// make-fetch-happen. Started by gateway.ts with an AgoraGatewayRun over IPC; answers { url }.

export interface AgoraGatewayRun {
  env: Record<string, string>;
  telemetry: boolean;
  fetcher: 'default' | 'fetch';
}

async function start(run: AgoraGatewayRun): Promise<string> {
  Object.assign(process.env, run.env);
  // The SDK patches libraries as they load, so it comes before any of them.
  if (run.telemetry) await import('../../gateway/src/telemetry.ts');
  const { RemoteGraphQLDataSource } = await import('@apollo/gateway');
  const { loadEnv } = await import('../../gateway/src/env.ts');
  const { startGateway } = await import('../../gateway/src/server.ts');
  if (run.fetcher === 'fetch') {
    // The data source's constructor assigns `this.fetcher`; an accessor on the prototype takes that assignment.
    Object.defineProperty(RemoteGraphQLDataSource.prototype, 'fetcher', {
      configurable: true,
      get: () => (url: string, init: RequestInit) => fetch(url, init),
      set: () => undefined,
    });
  }
  return (await startGateway(loadEnv(run.env))).url;
}

process.once('message', (run: AgoraGatewayRun) => {
  start(run).then(
    (url) => process.send?.({ url }),
    (error: unknown) => {
      process.stderr.write(`Agora gateway (bench) failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
});
