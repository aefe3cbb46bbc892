import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError, ErrorCode } from '@agora/service';
import { createInternalClient, domainCodeOf, domainFailure, failureMessageOf, internalProcedure, internalRouter, UNEXPECTED_FAILURE, type InternalContext } from '../src/index.ts';

// The bulkhead of the internal client: a participant that stops answering holds at most
// `maxConcurrentCalls` of its caller's calls, `maxQueuedCalls` more wait for a slot, and the next
// fails at once.

const t = initTRPC.create();
const held: (() => void)[] = [];
const router = t.router({
  /** Answers only when the test releases it: a participant that hangs. */
  slow: t.procedure.input(z.object({ n: z.number() })).mutation(({ input }) => new Promise<number>((resolve) => held.push(() => resolve(input.n)))),
  fast: t.procedure.query(() => 'ok'),
});
type Router = typeof router;

let server: ReturnType<typeof createHTTPServer>;
let url: string;

beforeAll(async () => {
  server = createHTTPServer({ router });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const release of held.splice(0)) release();
  await new Promise((resolve) => server.close(resolve));
});

const token = () => Promise.resolve('unused');

describe('the internal client bulkhead', () => {
  it('fails the call over the limit at once, lets other participants through, and admits calls again once one ends', async () => {
    const participant = createInternalClient<Router>({ url, token, maxConcurrentCalls: 2 });
    const other = createInternalClient<Router>({ url, token, maxConcurrentCalls: 2 });
    const first = participant.slow.mutate({ n: 1 });
    const second = participant.slow.mutate({ n: 2 });
    await expect.poll(() => held.length).toBe(2);

    const started = performance.now();
    await expect(participant.slow.mutate({ n: 3 })).rejects.toThrow(/bulkhead/i);
    expect(performance.now() - started).toBeLessThan(500);
    expect(held).toHaveLength(2);
    // Another participant's client has its own compartment.
    expect(await other.fast.query()).toBe('ok');

    held.shift()?.();
    expect(await first).toBe(1);
    const third = participant.slow.mutate({ n: 3 });
    await expect.poll(() => held.length).toBe(2);
    for (const release of held.splice(0)) release();
    expect(await Promise.all([second, third])).toEqual([2, 3]);
  });

  it('queues up to maxQueuedCalls calls, sends each when a slot frees, and fails the one beyond them at once', async () => {
    const participant = createInternalClient<Router>({ url, token, maxConcurrentCalls: 1, maxQueuedCalls: 2 });
    const calls = [1, 2, 3].map((n) => participant.slow.mutate({ n }));
    await expect.poll(() => held.length).toBe(1);
    const started = performance.now();
    await expect(participant.slow.mutate({ n: 4 })).rejects.toThrow(/bulkhead/i);
    expect(performance.now() - started).toBeLessThan(500);

    // The queued calls reach the participant one at a time, in order.
    for (const expected of [1, 2, 3]) {
      await expect.poll(() => held.length).toBe(1);
      held.shift()?.();
      expect(await calls[expected - 1]).toBe(expected);
    }
    expect(held).toHaveLength(0);
  });

  it('does not limit a client without maxConcurrentCalls', async () => {
    const client = createInternalClient<Router>({ url, token });
    const calls = Array.from({ length: 5 }, (_, n) => client.slow.mutate({ n }));
    await expect.poll(() => held.length).toBe(5);
    for (const release of held.splice(0)) release();
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('failure messages', () => {
  it("names Dapr's error code, status and message when the sidecar, not the participant, answered", async () => {
    // A sidecar that could not reach its target answers in Dapr's error shape.
    const sidecar = createServer((_request, response) => {
      response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errorCode: 'ERR_DIRECT_INVOKE', message: 'failed to invoke, id: payments, err: connect ECONNREFUSED' }));
    });
    await new Promise<void>((resolve) => sidecar.listen(0, '127.0.0.1', resolve));
    try {
      const client = createInternalClient<Router>({ url: `http://127.0.0.1:${(sidecar.address() as AddressInfo).port}`, token });
      const error: unknown = await client.fast.query().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(failureMessageOf(error)).toBe('ERR_DIRECT_INVOKE (HTTP 500): failed to invoke, id: payments, err: connect ECONNREFUSED');
      expect(failureMessageOf(new Error('plain'))).toBe('plain');
    } finally {
      await new Promise((resolve) => sidecar.close(resolve));
    }
  });
});

describe("a participant's errors", () => {
  // A router built like the participants' (internalRouter: its error formatter), served plainly.
  const participant = internalRouter({
    broken: internalProcedure.query((): string => {
      throw new Error('insert into "payments" failed: connect ECONNREFUSED 10.0.0.7:5432');
    }),
    missing: internalProcedure.query((): string => {
      throw domainFailure(new DomainError(ErrorCode.NOT_FOUND, 'Order 42 was not found', { orderId: '42' }));
    }),
  });

  it("keeps an unexpected error's message in the participant and passes a domain failure's code, message and details", async () => {
    const served = createHTTPServer({ router: participant, createContext: () => ({}) as InternalContext });
    await new Promise<void>((resolve) => served.listen(0, '127.0.0.1', resolve));
    try {
      const client = createInternalClient<typeof participant>({ url: `http://127.0.0.1:${(served.address() as AddressInfo).port}`, token });
      const failure = (call: Promise<unknown>) => call.then(() => undefined, (error: unknown) => error);
      const broken = await failure(client.broken.query());
      expect(failureMessageOf(broken)).toBe(UNEXPECTED_FAILURE);
      expect(domainCodeOf(broken)).toBeUndefined();
      const missing = await failure(client.missing.query());
      expect(failureMessageOf(missing)).toBe('Order 42 was not found');
      expect(domainCodeOf(missing)).toBe('NOT_FOUND');
      expect((missing as { data?: { details?: unknown } }).data?.details).toEqual({ orderId: '42' });
    } finally {
      await new Promise((resolve) => served.close(resolve));
    }
  });
});
