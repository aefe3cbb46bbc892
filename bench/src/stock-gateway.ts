// The peer of Agora's gateway in the gateway benchmark: a stock @apollo/gateway in a stock
// @apollo/server (standalone, default plugins), serving the same checked-in supergraph. Its only
// code is the usual RemoteGraphQLDataSource.willSendRequest that forwards the caller's
// Authorization header; subgraphs refuse requests without a token, so anonymous requests carry
// the same role-less service token Agora's gateway sends (fetched once by the parent).
// Started by gateway.ts with a StockRun over IPC; answers { url } once listening.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { pathToFileURL } from 'node:url';
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';

export interface StockRun {
  /** Subgraph name → the URL to fetch it at. */
  subgraphUrls: Record<string, string>;
  serviceToken: string;
}

interface StockContext {
  authorization?: string;
}

// @apollo/server comes from Agora's gateway package (the same 5.5.1 it runs on), until bench/package.json lists it.
interface ApolloServerModule {
  ApolloServer: new (config: { gateway: ApolloGateway }) => unknown;
}
interface StandaloneModule {
  startStandaloneServer: (server: unknown, options: { listen: { host: string; port: number }; context: (args: { req: IncomingMessage }) => Promise<StockContext> }) => Promise<{ url: string }>;
}
const supergraphPath = new URL('../../gateway/supergraph.graphql', import.meta.url);
const fromGateway = createRequire(new URL('../../gateway/package.json', import.meta.url));
const load = async <T>(specifier: string): Promise<T> => (await import(pathToFileURL(fromGateway.resolve(specifier)).href)) as T;

class ForwardingDataSource extends RemoteGraphQLDataSource<StockContext> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<StockContext>): void {
    const authorization = (context as Partial<StockContext>).authorization;
    if (authorization) request.http?.headers.set('authorization', authorization);
  }
}

async function start(run: StockRun): Promise<string> {
  const { ApolloServer } = await load<ApolloServerModule>('@apollo/server');
  const { startStandaloneServer } = await load<StandaloneModule>('@apollo/server/standalone');
  const gateway = new ApolloGateway({
    supergraphSdl: readFileSync(supergraphPath, 'utf8'),
    buildService: ({ name, url }) => new ForwardingDataSource({ url: run.subgraphUrls[name] ?? url }),
  });
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization ?? `Bearer ${run.serviceToken}` }),
  });
  return url;
}

process.once('message', (run: StockRun) => {
  start(run).then(
    (url) => process.send?.({ url }),
    (error: unknown) => {
      process.stderr.write(`stock gateway failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
});
