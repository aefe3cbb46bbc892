import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { tempDir } from '@agora/testing';

// Test doubles for the app side of the sidecar: an HTTP app that records what the sidecar sends it
// and answers pub/sub deliveries as each event's plan says, plus small helpers for resources.

export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The SDK logs failed calls as errors; tests that expect failures keep it quiet. */
export const quietSdkLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, verbose: () => undefined, debug: () => undefined };

/** A directory holding the given resource documents (YAML text, one file each). */
export function resourcesDir(files: Record<string, string>): string {
  const dir = tempDir('sidecar-resources-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** A Component resource as YAML. */
export function componentYaml(name: string, type: string, metadata: Record<string, string> = {}, scopes: string[] = []): string {
  return [
    'apiVersion: dapr.io/v1alpha1',
    'kind: Component',
    `metadata: { name: ${name} }`,
    'spec:',
    `  type: ${type}`,
    '  version: v1',
    '  metadata:',
    ...Object.entries(metadata).map(([key, value]) => `    - { name: ${key}, value: ${JSON.stringify(value)} }`),
    ...(scopes.length > 0 ? [`scopes: [${scopes.join(', ')}]`] : []),
  ].join('\n');
}

/**
 * How the app answers one delivery attempt: 200 with that status (UNKNOWN: one daprd does not
 * know; NOSTATUS: a JSON body without one), 200 without a body, a bare HTTP status, or no answer
 * at all (the request hangs until the app stops).
 */
export type Step = 'SUCCESS' | 'RETRY' | 'DROP' | 'UNKNOWN' | 'NOSTATUS' | 'empty' | '404' | '500' | 'hang';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body as JSON, when it is. */
  json: unknown;
  at: number;
}

export type CloudEvent = Record<string, unknown> & { id: string; data?: unknown; data_base64?: string };

/** The `data` of a delivered CloudEvent (decoded from data_base64 when it is JSON). */
export function dataOf(event: CloudEvent): unknown {
  if (event.data_base64 === undefined) return event.data;
  const text = Buffer.from(event.data_base64, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export interface AppOptions {
  /** The answer to GET /dapr/subscribe: subscriptions (JSON, 200) or a raw status and body. */
  subscribe?: unknown[] | { status: number; body: string };
  /** Answers to other requests (service invocation); 404 when it returns nothing. */
  answer?: (request: Received) => { status: number; body: string } | undefined;
}

/**
 * An app on 127.0.0.1: records every request; answers a POSTed CloudEvent per `data.plan`
 * (the step of its n-th attempt, the last step repeating; SUCCESS without a plan).
 */
export class TestApp {
  readonly received: Received[] = [];
  readonly #options: AppOptions;
  readonly #attempts = new Map<string, number>();
  #server: Server | undefined;
  port = 0;

  constructor(options: AppOptions = {}) {
    this.#options = options;
  }

  /** Listens on its previous port after a stop, so its sidecar finds it again. */
  async start(): Promise<this> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => this.#handle(request.method ?? '', request.url ?? '', request.headers, Buffer.concat(chunks).toString('utf8'), response));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : this.port;
    this.#server = server;
    return this;
  }

  /** Stops at once, cutting the requests it has not answered (as a crash would). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }

  /** The CloudEvents POSTed to `path`, in order of arrival. */
  events(path: string): CloudEvent[] {
    return this.received.filter((request) => request.method === 'POST' && request.path === path && isRecord(request.json)).map((request) => request.json as CloudEvent);
  }

  /** The deliveries of the event whose data carries `mark`, to any path. */
  deliveriesOf(mark: string): Received[] {
    return this.received.filter((request) => {
      const data = isRecord(request.json) ? dataOf(request.json as CloudEvent) : undefined;
      return isRecord(data) && data['mark'] === mark;
    });
  }

  #handle(method: string, url: string, headers: IncomingHttpHeaders, body: string, response: ServerResponse): void {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const path = url.split('?')[0] ?? url;
    const request: Received = { method, path, headers, body, json, at: Date.now() };
    this.received.push(request);
    if (method === 'GET' && path === '/dapr/subscribe') {
      const subscribe = this.#options.subscribe;
      if (subscribe === undefined) return void response.writeHead(404).end();
      if (Array.isArray(subscribe)) return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(subscribe));
      return void response.writeHead(subscribe.status, { 'content-type': 'application/json' }).end(subscribe.body);
    }
    if (method === 'POST' && isRecord(json) && typeof json['id'] === 'string' && json['specversion'] === '1.0') return this.#answerEvent(path, json as CloudEvent, response);
    const answer = this.#options.answer?.(request);
    if (answer) return void response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    response.writeHead(404).end();
  }

  #answerEvent(path: string, event: CloudEvent, response: ServerResponse): void {
    const key = `${path} ${event.id}`;
    const attempt = this.#attempts.get(key) ?? 0;
    this.#attempts.set(key, attempt + 1);
    const data = dataOf(event);
    const plan = isRecord(data) && Array.isArray(data['plan']) ? (data['plan'] as Step[]) : ['SUCCESS'];
    const step = plan[Math.min(attempt, plan.length - 1)] ?? 'SUCCESS';
    switch (step) {
      case 'hang':
        return;
      case 'empty':
        return void response.writeHead(200).end();
      case '404':
      case '500':
        return void response.writeHead(Number(step), { 'content-type': 'text/plain' }).end(`status ${step}`);
      case 'UNKNOWN':
        return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'MAYBE' }));
      case 'NOSTATUS':
        return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received: true }));
      default:
        return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: step }));
    }
  }
}
