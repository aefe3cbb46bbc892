import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { OperationTypeNode } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '@agora/auth';
import type { GatewayContext } from '../src/context.ts';
import { isShareable, mayShareFetch, SubgraphDataSource } from '../src/subgraph-data-source.ts';
import { createLogger } from '@agora/service';
import { createSubgraphFetcher } from '../src/subgraph-fetcher.ts';

// A subgraph stand-in that holds every request until the test releases them, so that fetches
// are truly in flight together, and records what it received.
interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}
let server: Server;
let url: string;
const received: Received[] = [];
let held: ServerResponse[] = [];
let failNext = false;
/** Answers the next request at once with this status and JSON body. */
let answerNext: { status: number; body: unknown } | undefined;

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      if (failNext) {
        failNext = false;
        request.socket.destroy();
        return;
      }
      if (answerNext) {
        response.writeHead(answerNext.status, { 'content-type': 'application/json' }).end(JSON.stringify(answerNext.body));
        answerNext = undefined;
        return;
      }
      held.push(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  received.length = 0;
  held = [];
});

/** Waits until the stand-in holds `count` requests, then answers each with its own number. */
async function release(count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (held.length < count) {
    if (Date.now() > deadline) throw new Error(`the subgraph received ${held.length} requests, expected ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // Let any fetch that would wrongly send its own request arrive before answering.
  await new Promise((resolve) => setTimeout(resolve, 50));
  held.forEach((response, index) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { answer: index + 1 } })));
  held = [];
}

const query = (body: string, authorization = 'Bearer service', traceparent = `00-${'1'.repeat(32)}-${Math.random().toString(16).slice(2, 18).padEnd(16, '0')}-01`) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization, traceparent },
  body,
});

describe('subgraph fetcher', () => {
  it('sends one request for identical shareable fetches in flight, whatever their trace context, and gives each caller its own answer', async () => {
    const fetcher = createSubgraphFetcher({ shareable: () => true });
    try {
      const answers = Array.from({ length: 10 }, () => fetcher.fetch(url, query('{"query":"{ products { id } }"}')));
      await release(1);
      const bodies = await Promise.all((await Promise.all(answers)).map((response) => response.json()));
      expect(received).toHaveLength(1);
      expect(bodies).toEqual(Array.from({ length: 10 }, () => ({ data: { answer: 1 } })));
    } finally {
      fetcher.close();
    }
  });

  it('sends its own request for another body, another token, or a fetch that may not share', async () => {
    let shareable = true;
    const fetcher = createSubgraphFetcher({ shareable: () => shareable });
    try {
      const first = fetcher.fetch(url, query('{"query":"{ products { id } }"}'));
      const otherBody = fetcher.fetch(url, query('{"query":"{ products { name } }"}'));
      const otherToken = fetcher.fetch(url, query('{"query":"{ products { id } }"}', 'Bearer alice'));
      shareable = false;
      const notShared = fetcher.fetch(url, query('{"query":"{ products { id } }"}'));
      await release(4);
      expect((await Promise.all([first, otherBody, otherToken, notShared])).map((response) => response.status)).toEqual([200, 200, 200, 200]);
      expect(received.map(({ body, headers }) => [body, headers.authorization])).toEqual([
        ['{"query":"{ products { id } }"}', 'Bearer service'],
        ['{"query":"{ products { name } }"}', 'Bearer service'],
        ['{"query":"{ products { id } }"}', 'Bearer alice'],
        ['{"query":"{ products { id } }"}', 'Bearer service'],
      ]);
    } finally {
      fetcher.close();
    }
  });

  it('keeps no answer once it has arrived, and a failure reaches every caller without sticking', async () => {
    const fetcher = createSubgraphFetcher({ shareable: () => true });
    try {
      const body = '{"query":"{ products { id } }"}';
      const first = fetcher.fetch(url, query(body));
      await release(1);
      await (await first).json();
      const second = fetcher.fetch(url, query(body));
      await release(1);
      expect(await (await second).json()).toEqual({ data: { answer: 1 } });
      expect(received).toHaveLength(2);

      failNext = true;
      const failing = await Promise.allSettled([fetcher.fetch(url, query(body)), fetcher.fetch(url, query(body))]);
      expect(failing.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
      expect(received).toHaveLength(3);
      const after = fetcher.fetch(url, query(body));
      await release(1);
      expect((await after).status).toBe(200);
      expect(received).toHaveLength(4);
    } finally {
      fetcher.close();
    }
  });
});

describe('subgraph data source', () => {
  const silent = createLogger('gateway', 'silent');
  const alice = { sub: 'alice' } as unknown as Caller;
  const options = (operation: OperationTypeNode, caller: Caller | undefined, authorization: string) =>
    ({
      kind: 'incoming operation',
      request: { query: operation === OperationTypeNode.QUERY ? '{ products { id } }' : 'mutation { addToCart { itemCount } }', variables: {} },
      incomingRequestContext: { operation: { operation } },
      context: { caller, forward: { authorization } },
    }) as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;

  it('shares only an anonymous caller’s queries', () => {
    expect(isShareable(options(OperationTypeNode.QUERY, undefined, 'Bearer service'))).toBe(true);
    expect(isShareable(options(OperationTypeNode.QUERY, alice, 'Bearer alice'))).toBe(false);
    expect(isShareable(options(OperationTypeNode.MUTATION, undefined, 'Bearer service'))).toBe(false);
    expect(isShareable({ request: { query: '{ __typename }' }, kind: 'health check', context: {} } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>)).toBe(false);
  });

  it('sends one request for anonymous queries in flight together, one each for a signed-in caller’s and for mutations', async () => {
    const fetcher = createSubgraphFetcher({ shareable: mayShareFetch });
    const source = new SubgraphDataSource({ name: 'orders', url, fetcher: fetcher.fetch, logger: silent, exposeUpstream: false });
    try {
      const process = (operation: OperationTypeNode, caller: Caller | undefined, authorization: string, times: number) =>
        Promise.all(Array.from({ length: times }, () => source.process(options(operation, caller, authorization))));
      const anonymous = process(OperationTypeNode.QUERY, undefined, 'Bearer service', 5);
      const signedIn = process(OperationTypeNode.QUERY, alice, 'Bearer alice', 3);
      const mutations = process(OperationTypeNode.MUTATION, undefined, 'Bearer service', 2);
      await release(6);
      const answers = (await Promise.all([anonymous, signedIn, mutations])).flat();
      expect(answers).toHaveLength(10);
      expect(answers.every((answer) => typeof answer.data?.answer === 'number')).toBe(true);
      // The five anonymous queries share one answer (one object each), the others have their own.
      const anonymousAnswers = answers.slice(0, 5);
      expect(new Set(anonymousAnswers.map((answer): unknown => answer.data?.answer)).size).toBe(1);
      expect(new Set(anonymousAnswers).size).toBe(5);
      expect(received.filter(({ headers }) => headers.authorization === 'Bearer alice')).toHaveLength(3);
      expect(received.filter(({ body }) => body.includes('mutation'))).toHaveLength(2);
    } finally {
      fetcher.close();
    }
  });

  it('reports a subgraph that does not answer as SERVICE_UNAVAILABLE naming it, sent once, and says a mutation may have been applied', async () => {
    const fetcher = createSubgraphFetcher({ shareable: mayShareFetch });
    const source = new SubgraphDataSource({ name: 'orders', url, fetcher: fetcher.fetch, logger: silent, exposeUpstream: false });
    const failure = async (operation: OperationTypeNode, answer: typeof answerNext | 'no answer') => {
      if (answer === 'no answer') failNext = true;
      else answerNext = answer;
      const before = received.length;
      const error = await source.process(options(operation, alice, 'Bearer alice')).then(
        () => expect.fail('the fetch should fail'),
        (caught: unknown) => caught as { message: string; extensions: Record<string, unknown> },
      );
      // Never sent again: a mutation whose answer was lost may have been applied.
      expect(received.length - before).toBe(1);
      return error;
    };
    try {
      const breakerOpen = { status: 500, body: { errorCode: 'ERR_DIRECT_INVOKE', message: 'failed to invoke, id: orders, err: Execution prevented because the circuit breaker is open' } };
      for (const answer of [breakerOpen, { status: 503, body: { status: 'unavailable' } }, { status: 504, body: {} }, 'no answer'] as const) {
        const query = await failure(OperationTypeNode.QUERY, answer);
        expect(query.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', details: { service: 'orders' } });
        expect(query.message).toBe('orders is not answering; try again shortly');
        const mutation = await failure(OperationTypeNode.MUTATION, answer);
        expect(mutation.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', details: { service: 'orders' } });
        expect(mutation.message).toMatch(/^orders is not answering; the change may or may not have been made/);
      }
      // The subgraph's own failure is not an outage: it stays an error without a client-facing code.
      const own = await failure(OperationTypeNode.QUERY, { status: 500, body: { errors: [{ message: 'boom' }] } });
      expect(own.extensions['code']).toBeUndefined();
      // In development the sidecar's answer stays visible.
      const exposing = new SubgraphDataSource({ name: 'orders', url, fetcher: fetcher.fetch, logger: silent, exposeUpstream: true });
      answerNext = breakerOpen;
      const shown = await exposing.process(options(OperationTypeNode.QUERY, alice, 'Bearer alice')).catch((caught: unknown) => caught as { extensions: Record<string, unknown> });
      expect(shown.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', response: { status: 500, body: breakerOpen.body } });
    } finally {
      fetcher.close();
    }
  });
});
