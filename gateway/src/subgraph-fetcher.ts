import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherInit = Parameters<Fetcher>[1];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

/** A subgraph's answer, read whole (subgraph answers are small JSON documents). */
interface Answer {
  status: number;
  statusText: string;
  headers: Headers;
  body: Buffer | null;
}

/** Node's own Headers from what node:http received (repeated headers joined, as fetch does). */
function headersOf(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

/** Trace context differs from one request to the next but never changes a subgraph's answer. */
const TRACE_HEADERS = new Set(['traceparent', 'tracestate', 'baggage']);

/** What makes two fetches the same: URL, method, every header but the trace context, and body. */
function sameFetchKey(url: string, init: FetcherInit): string | undefined {
  if (typeof init?.body !== 'string' || (init.headers !== undefined && (Array.isArray(init.headers) || init.headers instanceof Headers))) return undefined;
  const headers = Object.entries(init.headers ?? {})
    .filter(([name]) => !TRACE_HEADERS.has(name.toLowerCase()))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([url, init.method ?? 'GET', headers, init.body]);
}

export interface SubgraphFetcherOptions {
  /**
   * Asked at each fetch: may it share the answer of an identical fetch already in flight
   * instead of sending its own? (The data source says yes only for anonymous queries.)
   */
  shareable?: () => boolean;
}

export interface SubgraphFetcher {
  fetch: Fetcher;
  /** Closes the pooled connections. */
  close(): void;
}

/**
 * Subgraph requests over node:http with a keep-alive pool shared by every subgraph (they all go to
 * the one sidecar), instead of @apollo/gateway's default make-fetch-happen, whose HTTP-cache and
 * retry layers (unused: POSTs, retry off) cost more CPU than the request itself
 * (docs/adr/0015-gateway-performance.md). No redirects are followed, as before.
 *
 * A fetch that `shareable` allows joins an identical one in flight: one request goes to the
 * subgraph, and each caller gets its own Response of the same answer (docs/adr/0021). Nothing is
 * kept once the answer has arrived.
 */
export function createSubgraphFetcher(options: SubgraphFetcherOptions = {}): SubgraphFetcher {
  const http = new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  const https = new HttpsAgent({ keepAlive: true, scheduling: 'lifo' });
  const inFlight = new Map<string, Promise<Answer>>();

  const send = (url: string, init: FetcherInit = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const secure = url.startsWith('https:');
      const request = (secure ? httpsRequest : httpRequest)(url, { method: init.method ?? 'GET', headers: init.headers, agent: secure ? https : http, signal: init.signal as AbortSignal | undefined }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = chunks.length === 0 ? null : chunks.length === 1 ? (chunks[0] ?? null) : Buffer.concat(chunks);
          resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: headersOf(response), body });
        });
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(init.body);
    });

  // Handed over as Node's own Response; a status it cannot represent (e.g. a body on a 204) fails this fetch, not the process.
  const responseOf = (answer: Answer): FetcherResponse => new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });

  const shared = (key: string, url: string, init: FetcherInit): Promise<Answer> => {
    let answer = inFlight.get(key);
    if (!answer) {
      // One caller's abort must not fail the others: a shared fetch runs to its end.
      answer = send(url, { ...init, signal: undefined }).finally(() => inFlight.delete(key));
      inFlight.set(key, answer);
    }
    return answer;
  };

  const fetch: Fetcher = async (url, init) => {
    const key = options.shareable?.() ? sameFetchKey(url, init) : undefined;
    return responseOf(await (key === undefined ? send(url, init) : shared(key, url, init)));
  };

  return {
    fetch,
    close() {
      http.destroy();
      https.destroy();
    },
  };
}
