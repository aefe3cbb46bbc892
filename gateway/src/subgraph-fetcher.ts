import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;
type FetcherHeaders = FetcherResponse['headers'];

/** The response headers as received (names in lower case, as node:http gives them), read-only. */
class ReceivedHeaders implements FetcherHeaders {
  readonly #headers: IncomingHttpHeaders;

  constructor(headers: IncomingHttpHeaders) {
    this.#headers = headers;
  }

  get(name: string): string | null {
    const value = this.#headers[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.#headers[name.toLowerCase()] !== undefined;
  }

  append(): void {
    throw new TypeError('response headers are immutable');
  }

  set(): void {
    throw new TypeError('response headers are immutable');
  }

  delete(): void {
    throw new TypeError('response headers are immutable');
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.#headers).sort()) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/** A subgraph's answer, read whole before it is handed over (subgraph answers are small JSON documents). */
class BufferedResponse implements FetcherResponse {
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly redirected = false;
  readonly headers: FetcherHeaders;
  readonly #body: Buffer;
  #used = false;

  constructor(url: string, message: IncomingMessage, body: Buffer) {
    this.url = url;
    this.status = message.statusCode ?? 0;
    this.statusText = message.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = new ReceivedHeaders(message.headers);
    this.#body = body;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  #consume(): Buffer {
    if (this.#used) throw new TypeError('body already used');
    this.#used = true;
    return this.#body;
  }

  text(): Promise<string> {
    return new Promise((resolve) => resolve(this.#consume().toString('utf8')));
  }

  json(): Promise<unknown> {
    return new Promise((resolve) => resolve(JSON.parse(this.#consume().toString('utf8')) as unknown));
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return new Promise((resolve) => {
      const body = this.#consume();
      resolve(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer);
    });
  }

  clone(): FetcherResponse {
    if (this.#used) throw new TypeError('body already used');
    return Object.assign(Object.create(Object.getPrototypeOf(this) as object) as BufferedResponse, this);
  }
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
 */
export function createSubgraphFetcher(): SubgraphFetcher {
  const http = new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  const https = new HttpsAgent({ keepAlive: true, scheduling: 'lifo' });
  const fetch: Fetcher = (url, init = {}) =>
    new Promise<FetcherResponse>((resolve, reject) => {
      const secure = url.startsWith('https:');
      const send = secure ? httpsRequest : httpRequest;
      const request = send(url, { method: init.method ?? 'GET', headers: init.headers, agent: secure ? https : http, signal: init.signal as AbortSignal | undefined }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(new BufferedResponse(url, response, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks))));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(init.body);
    });
  return {
    fetch,
    close() {
      http.destroy();
      https.destroy();
    },
  };
}
