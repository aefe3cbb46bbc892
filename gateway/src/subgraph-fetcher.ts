import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

/** Node's own Headers from what node:http received (repeated headers joined, as fetch does). */
function headersOf(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
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
        // Read whole (subgraph answers are small JSON documents), then handed over as Node's own Response.
        response.on('end', () => {
          try {
            const body = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            resolve(new Response(body, { status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: headersOf(response) }));
          } catch (error) {
            // A status fetch cannot represent (e.g. a body on a 204): fail this fetch, not the process.
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
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
