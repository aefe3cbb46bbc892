import { AsyncLocalStorage } from 'node:async_hooks';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { context as otelContext, propagation } from '@opentelemetry/api';
import { GraphQLError, OperationTypeNode } from 'graphql';
import { ErrorCode, type Logger } from '@agora/service';
import type { GatewayContext } from './context.ts';

/** What the data source knows of the operation a fetch belongs to, for the fetcher and for errors. */
interface FetchScope {
  shareable: boolean;
  mutation: boolean;
}

const scope = new AsyncLocalStorage<FetchScope>();

/**
 * Whether the subgraph fetch being made may share the answer of an identical one in flight
 * (createSubgraphFetcher's `shareable`): only for an anonymous caller's query, which reads no
 * one's own data and follows no write of its caller that it must see (docs/adr/0021).
 */
export const mayShareFetch = (): boolean => scope.getStore()?.shareable === true;

/** The type of the client's operation a fetch serves; undefined for health checks and schema loads, which have no request context. */
const operationOf = (options: GraphQLDataSourceProcessOptions<GatewayContext>): OperationTypeNode | undefined =>
  'incomingRequestContext' in options ? options.incomingRequestContext.operation.operation : undefined;

export function isShareable(options: GraphQLDataSourceProcessOptions<GatewayContext>): boolean {
  return operationOf(options) === OperationTypeNode.QUERY && options.context.caller === undefined;
}

type FetcherResponse = Awaited<ReturnType<RemoteGraphQLDataSource['fetcher']>>;

/**
 * Whether an HTTP answer says the subgraph did not answer at all, rather than that it failed: a
 * proxy's 502/503/504 (a subgraph shutting down answers 503 too), or Dapr's ERR_DIRECT_INVOKE,
 * which the sidecar sends when the call timed out, its circuit breaker is open or the app is
 * unreachable. A subgraph's own 500 stays an internal error.
 */
function notAnswered(status: number, body: unknown): boolean {
  if (status === 502 || status === 503 || status === 504) return true;
  return status === 500 && typeof body === 'object' && body !== null && (body as { errorCode?: unknown }).errorCode === 'ERR_DIRECT_INVOKE';
}

export interface SubgraphDataSourceOptions {
  /** The subgraph's name in the supergraph (users, inventory, ...), for clients and logs. */
  name: string;
  url: string | undefined;
  fetcher: RemoteGraphQLDataSource['fetcher'];
  logger: Logger;
  /** Keeps the upstream answer in the error's `extensions.response` (development only: it shows the sidecar's internals). */
  exposeUpstream: boolean;
}

/**
 * Fetches from a subgraph with the caller's original token and trace headers: subgraphs
 * verify the token themselves rather than trusting the gateway. A subgraph that does not answer
 * (down, timed out, its breaker open) is reported as SERVICE_UNAVAILABLE naming it, not as an
 * internal error; nothing retries the fetch here (docs/adr/0024).
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  readonly #name: string;
  readonly #logger: Logger;
  readonly #exposeUpstream: boolean;

  constructor(options: SubgraphDataSourceOptions) {
    super({ ...(options.url === undefined ? {} : { url: options.url }), fetcher: options.fetcher });
    this.#name = options.name;
    this.#logger = options.logger;
    this.#exposeUpstream = options.exposeUpstream;
  }

  override process(options: GraphQLDataSourceProcessOptions<GatewayContext>): ReturnType<RemoteGraphQLDataSource<GatewayContext>['process']> {
    return scope.run({ shareable: isShareable(options), mutation: operationOf(options) === OperationTypeNode.MUTATION }, () => super.process(options));
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    // Health checks and schema loads run without a request context.
    const forward = (context as Partial<GatewayContext>).forward ?? {};
    const headers = request.http?.headers;
    if (!headers) return;
    for (const [name, value] of Object.entries(forward)) headers.set(name, value);
    // With the SDK running, the subgraph is a child of the gateway's own span rather than of its caller; without it, nothing is injected.
    propagation.inject(otelContext.active(), headers, { set: (carrier, name, value) => carrier.set(name, value) });
  }

  override async errorFromResponse(response: FetcherResponse): Promise<GraphQLError> {
    const error = await super.errorFromResponse(response);
    const upstream = error.extensions['response'] as { body?: unknown } | undefined;
    if (!notAnswered(response.status, upstream?.body)) return error;
    const reason = (upstream?.body as { message?: unknown } | undefined)?.message;
    return this.#unavailable(`HTTP ${response.status}${typeof reason === 'string' ? `: ${reason}` : ''}`, upstream);
  }

  override didEncounterError(error: Error, _fetchRequest: unknown, fetchResponse?: FetcherResponse): void {
    // No answer at all: the sidecar (or, fetched directly, the subgraph) could not be reached.
    if (fetchResponse === undefined) throw this.#unavailable(error.message, undefined);
    throw error;
  }

  #unavailable(reason: string, upstream: unknown): GraphQLError {
    const mutation = scope.getStore()?.mutation === true;
    this.#logger.warn({ subgraph: this.#name, mutation, reason }, 'subgraph did not answer');
    // A mutation's subgraph may have made the change and only its answer been lost (a timeout).
    const message = mutation
      ? `${this.#name} is not answering; the change may or may not have been made (a mutation sent again with the same idempotency key is made once)`
      : `${this.#name} is not answering; try again shortly`;
    return new GraphQLError(message, {
      extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, details: { service: this.#name }, ...(this.#exposeUpstream && upstream !== undefined ? { response: upstream } : {}) },
    });
  }
}
