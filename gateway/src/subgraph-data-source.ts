import { AsyncLocalStorage } from 'node:async_hooks';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { context as otelContext, propagation } from '@opentelemetry/api';
import { OperationTypeNode } from 'graphql';
import type { GatewayContext } from './context.ts';

const sharing = new AsyncLocalStorage<boolean>();

/**
 * Whether the subgraph fetch being made may share the answer of an identical one in flight
 * (createSubgraphFetcher's `shareable`): only for an anonymous caller's query, which reads no
 * one's own data and follows no write of its caller that it must see (docs/adr/0021).
 */
export const mayShareFetch = (): boolean => sharing.getStore() === true;

export function isShareable(options: GraphQLDataSourceProcessOptions<GatewayContext>): boolean {
  // Only an incoming operation has a request context (not health checks and schema loads).
  return 'incomingRequestContext' in options && options.context.caller === undefined && options.incomingRequestContext.operation.operation === OperationTypeNode.QUERY;
}

/**
 * Fetches from a subgraph with the caller's original token and trace headers: subgraphs
 * verify the token themselves rather than trusting the gateway.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override process(options: GraphQLDataSourceProcessOptions<GatewayContext>): ReturnType<RemoteGraphQLDataSource<GatewayContext>['process']> {
    return sharing.run(isShareable(options), () => super.process(options));
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
}
