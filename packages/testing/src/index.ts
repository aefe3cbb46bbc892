export { createTestDatabase, dropDatabases, testServerUrl } from './database.ts';
export type { TestDatabase } from './database.ts';
export { anonymousClient, devUserIds, startTestIssuer } from './identity.ts';
export type { DevUser, TestIssuer } from './identity.ts';
export { startTestSubgraph } from './subgraph.ts';
export type { HttpOperationResult, OperationResult, TestSubgraph, TestSubgraphOptions } from './subgraph.ts';
export { failureOf, internalApiClient, serviceClient, serviceTokenOf } from './internal-api.ts';
export type { InternalClientError } from './internal-api.ts';
