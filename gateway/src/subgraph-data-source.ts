import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayContext } from './context.ts';

/**
 * Fetches from a subgraph with the caller's original token and trace headers: subgraphs
 * verify the token themselves rather than trusting the gateway.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    // Health checks and schema loads run without a request context.
    const forward = (context as Partial<GatewayContext>).forward ?? {};
    for (const [name, value] of Object.entries(forward)) request.http?.headers.set(name, value);
  }
}
