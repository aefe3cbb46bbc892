import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { context as otelContext, propagation } from '@opentelemetry/api';
import type { GatewayContext } from './context.ts';

/**
 * Fetches from a subgraph with the caller's original token and trace headers: subgraphs
 * verify the token themselves rather than trusting the gateway.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
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
