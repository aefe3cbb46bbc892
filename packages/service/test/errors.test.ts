import { createServer } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { MikroORM } from '@mikro-orm/postgresql';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ormOptions } from '../src/database.ts';
import { DomainError, ErrorCode, formatGraphQLError, notFound } from '../src/errors.ts';
import { graphqlTelemetryPlugin } from '../src/graphql-telemetry.ts';
import { createLogger } from '../src/logger.ts';

// What a client reads, and what the service logs, when a resolver fails: through a real Apollo
// Server with the services' formatError and telemetry plugin, and real database failures.

const serverUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const noTables = { entities: [], migrations: [], migrationsPath: '.' };
const quiet = { discovery: { warnWhenNoEntities: false } };

interface LogLine {
  level: number;
  msg: string;
  operation?: string;
  err?: { message?: string; stack?: string };
}
const lines: LogLine[] = [];
const logger = createLogger('errors-test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });

let database: MikroORM;
let nowhere: MikroORM;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  database = await MikroORM.init({ ...ormOptions(noTables, serverUrl, undefined, 1), ...quiet });
  const unreachable = new URL(serverUrl);
  unreachable.port = String(await closedPort());
  nowhere = await MikroORM.init({ ...ormOptions(noTables, unreachable.href, undefined, 1), ...quiet });
});

afterAll(async () => {
  await database.close(true);
  await nowhere.close(true);
});

const resolvers = {
  Query: {
    bug: () => {
      throw new Error('cannot read properties of undefined (reading "secret internal detail")');
    },
    // PostgreSQL restarting ends every session with 57P01; here the session ends itself.
    terminated: () => database.em.getConnection().execute('select pg_terminate_backend(pg_backend_pid())'),
    refused: () => nowhere.em.getConnection().execute('select 1'),
    missing: () => {
      throw notFound('Product', '42');
    },
    // As the gateway relays a subgraph's internal error: the subgraph logged it.
    relayed: () => {
      throw new GraphQLError('Internal server error', { extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'orders' } });
    },
    participant: () => {
      throw new DomainError(ErrorCode.SERVICE_UNAVAILABLE, 'inventory is not answering; try again shortly', { service: 'inventory' }, new Error('ERR_DIRECT_INVOKE: circuit breaker open'));
    },
  },
};

function serverFor(development: boolean): ApolloServer {
  return new ApolloServer({
    typeDefs: 'type Query { bug: String, terminated: String, refused: String, missing: String, relayed: String, participant: String }',
    resolvers,
    includeStacktraceInErrorResponses: development,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, development),
    plugins: [graphqlTelemetryPlugin(logger)],
  });
}

async function errorOf(server: ApolloServer, field: string): Promise<GraphQLFormattedError> {
  lines.length = 0;
  const response = await server.executeOperation({ query: `query Probe { ${field} }` });
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  const [error] = response.body.singleResult.errors ?? [];
  if (!error) throw new Error(`${field} did not fail`);
  return error;
}

describe('errors of a GraphQL operation', () => {
  const production = serverFor(false);
  const development = serverFor(true);
  beforeAll(async () => {
    await production.start();
    await development.start();
  });
  afterAll(async () => {
    await production.stop();
    await development.stop();
  });

  it('shows clients outside development no detail of an unexpected error, and logs it with its stack', async () => {
    const error = await errorOf(production, 'bug');
    expect(error).toEqual({ message: 'Internal server error', path: ['bug'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, operation: 'Probe', msg: 'operation failed with an unexpected error', err: { message: expect.stringContaining('secret internal detail') as unknown } });
    expect(lines[0]?.err?.stack).toMatch(/errors\.test\.ts/);
    // In development the message and stack are there to read.
    const shown = await errorOf(development, 'bug');
    expect(shown.message).toContain('secret internal detail');
    expect(shown.extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', stacktrace: expect.any(Array) as unknown });
  });

  it('answers SERVICE_UNAVAILABLE when the database refuses connections or ends the session, and logs a warning', async () => {
    for (const field of ['refused', 'terminated']) {
      const error = await errorOf(production, field);
      expect(error, field).toMatchObject({ message: 'A service this request needs is not answering; try again shortly', path: [field], extensions: { code: 'SERVICE_UNAVAILABLE' } });
      expect(lines.map((line) => [line.level, line.msg]), field).toEqual([[40, 'a dependency did not answer; the client was told to try again']]);
    }
    // The pool's next query finds the connection the server ended (as after a restart); in
    // development the message says so.
    const shown = await errorOf(development, 'terminated');
    expect(shown.message).toMatch(/^A service this request needs is not answering; try again shortly \(.*(terminating connection due to administrator command|Connection terminated unexpectedly)/);
    expect(shown.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
  });

  it('gives domain errors as they are, logging only a service that did not answer, with its cause, and not a subgraph error the gateway relays', async () => {
    expect(await errorOf(production, 'missing')).toMatchObject({ message: 'Product 42 was not found', path: ['missing'], extensions: { code: 'NOT_FOUND', details: { id: '42' } } });
    expect(lines).toEqual([]);
    expect(await errorOf(production, 'relayed')).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(lines).toEqual([]);
    expect(await errorOf(production, 'participant')).toMatchObject({
      message: 'inventory is not answering; try again shortly',
      path: ['participant'],
      extensions: { code: 'SERVICE_UNAVAILABLE', details: { service: 'inventory' } },
    });
    expect(lines).toMatchObject([{ level: 40, msg: 'inventory is not answering; try again shortly', err: { message: 'ERR_DIRECT_INVOKE: circuit breaker open' } }]);
  });

  it('keeps the codes clients know, and the message of a refused query', async () => {
    const refused = await production.executeOperation({ query: '{ nope }' });
    if (refused.body.kind !== 'single') throw new Error('expected a single result');
    expect(refused.body.singleResult.errors?.[0]).toMatchObject({ message: expect.stringContaining('nope') as unknown, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(formatGraphQLError({ message: 'gone', extensions: { code: 'NOT_FOUND', stacktrace: ['x'] } }, new Error('gone'), false)).toEqual({ message: 'gone', extensions: { code: 'NOT_FOUND' } });
  });
});
