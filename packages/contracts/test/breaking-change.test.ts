import { request as httpRequest, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyProvider } from '../src/verify.ts';
import { startInventoryProvider, type InventoryProvider } from './inventory-provider.ts';
import { startPaymentsProvider, type PaymentsProvider } from './payments-provider.ts';

// Verification must fail when a provider breaks its contract (issue 8). The real providers, with
// the same provider states as provider-*.test.ts, each broken in one realistic way, verified
// against the checked-in pacts: inventory's `reserve` renames `reservationId` to `id` (through a
// proxy on 127.0.0.1 that rewrites the real answers), and payments publishes
// agora.payment.succeeded.v1 without `paymentId` (the real outbox event, one field dropped).

let inventory: InventoryProvider;
let payments: PaymentsProvider;
let proxy: Server;
let proxyUrl: string;

const bodyOf = async (stream: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** Inventory after a careless refactoring: `reserve` answers `{ id }` where consumers read `{ reservationId }`. */
function renameReservationId(path: string, body: Buffer): Buffer {
  if (!path.startsWith('/trpc/reserve')) return body;
  const answer = JSON.parse(body.toString('utf8')) as { result?: { data?: Record<string, unknown> } };
  const data = answer.result?.data;
  if (!data || !('reservationId' in data)) return body;
  const { reservationId, ...rest } = data;
  answer.result = { data: { ...rest, id: reservationId } };
  return Buffer.from(JSON.stringify(answer));
}

/** A proxy in front of the real inventory that passes every request on and rewrites the answers of `reserve`. */
async function startBreakingProxy(target: string): Promise<Server> {
  const server = createServer((incoming, outgoing) => {
    void (async () => {
      const body = await bodyOf(incoming);
      const headers = { ...incoming.headers, 'accept-encoding': 'identity' };
      const upstream = httpRequest(new URL(incoming.url ?? '/', target), { method: incoming.method, headers }, (answer) => {
        void bodyOf(answer).then((received) => {
          const sent = renameReservationId(incoming.url ?? '/', received);
          const { 'content-length': _length, 'transfer-encoding': _encoding, ...rest } = answer.headers;
          outgoing.writeHead(answer.statusCode ?? 502, { ...rest, 'content-length': sent.length });
          outgoing.end(sent);
        });
      });
      upstream.on('error', (error) => outgoing.writeHead(502).end(String(error)));
      upstream.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  [inventory, payments] = await Promise.all([startInventoryProvider(), startPaymentsProvider()]);
  proxy = await startBreakingProxy(inventory.baseUrl);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await Promise.all([inventory?.close(), payments?.close()]);
});

/** The error verification rejects with; fails the test when verification passes. */
async function failureOf(verification: Promise<void>): Promise<string> {
  const error = await verification.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error, 'verification passed against a provider that breaks its pact').toBeInstanceOf(Error);
  return (error as Error).message;
}

/** The interactions a failure message names (its `- <description>` lines). */
const failedInteractions = (message: string): string[] => message.split('\n').filter((line) => line.startsWith('- ')).map((line) => line.slice(2));

describe('a provider that breaks its contract fails verification', () => {
  it('inventory renaming reservationId in the answer of reserve', async () => {
    const { token, stateHandlers } = inventory;
    const message = await failureOf(verifyProvider({ provider: 'inventory', consumers: ['orders'], baseUrl: proxyUrl, token, stateHandlers }));
    expect(message).toContain('inventory breaks the pacts of its consumers');
    // Only the interaction whose answer changed; every other one still passes through the proxy.
    expect(failedInteractions(message)).toEqual([expect.stringContaining('a reservation of an order line in stock')]);
    expect(message).toMatch(/\$\.result\.data.*missing the following keys: reservationId/);
  });

  it('payments publishing agora.payment.succeeded.v1 without paymentId', async () => {
    const { stateHandlers, messageProviders, producedEvent } = payments;
    const succeeded = producedEvent('agora.payment.succeeded.v1');
    const message = await failureOf(
      verifyProvider({
        provider: 'payments',
        consumers: ['users'],
        stateHandlers,
        messageProviders: {
          ...messageProviders,
          'agora.payment.succeeded.v1': async (descriptor) => {
            const produced = (await succeeded(descriptor)) as { message: Record<string, unknown> };
            const { paymentId: _dropped, ...data } = produced.message;
            return { ...produced, message: data };
          },
        },
      }),
    );
    expect(failedInteractions(message)).toEqual([expect.stringContaining('agora.payment.succeeded.v1')]);
    expect(message).toMatch(/missing the following keys: paymentId/);
  });
});
