export { createTestDatabase, dropDatabases, testServerUrl } from './database.ts';
export type { TestDatabase } from './database.ts';
export { devUserIds, startTestIssuer } from './identity.ts';
export type { DevUser, TestIssuer } from './identity.ts';
export { startTestSubgraph } from './subgraph.ts';
export type { OperationResult, TestSubgraph } from './subgraph.ts';
