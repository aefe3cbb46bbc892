import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient, HttpMethod } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type RunningSidecar } from '../src/index.ts';

interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

// App "b": echoes what it received; /status/<code> answers with that status.
let appB: Server;
let appPort: number;
let sidecarA: RunningSidecar;
let sidecarB: RunningSidecar;
let client: DaprClient;

beforeAll(async () => {
  appB = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = /^\/status\/(\d{3})/.exec(request.url ?? '')?.[1];
      const echo: Echo = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      response.writeHead(status ? Number(status) : 200, { 'content-type': 'application/json', 'x-from-app': 'b' }).end(JSON.stringify(echo));
    });
  });
  await new Promise<void>((resolve) => appB.listen(0, '127.0.0.1', resolve));
  const address = appB.address();
  appPort = typeof address === 'object' && address ? address.port : 0;
  const resources = mkdtempSync(join(tmpdir(), 'sidecar-invoke-'));
  sidecarB = await startSidecar({ appId: 'b', appPort, httpPort: 0, resourcesPaths: [resources], logLevel: 'warn' });
  sidecarA = await startSidecar({ appId: 'a', httpPort: 0, resourcesPaths: [resources], peers: { b: sidecarB.url }, logLevel: 'warn' });
  client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sidecarA.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP });
});

afterAll(async () => {
  await sidecarA?.stop();
  await sidecarB?.stop();
  await new Promise((resolve) => appB?.close(resolve));
});

describe('service invocation', () => {
  it("reaches another app's method through both sidecars with the official SDK", async () => {
    const echo = (await client.invoker.invoke('b', 'orders/42?expand=lines', HttpMethod.POST, { quantity: 2 })) as Echo;
    expect(echo.method).toBe('POST');
    expect(echo.url).toBe('/orders/42?expand=lines');
    expect(JSON.parse(echo.body)).toEqual({ quantity: 2 });
    expect(echo.headers['dapr-caller-app-id']).toBe('a');
    expect(echo.headers['dapr-callee-app-id']).toBe('b');
  });

  it('supports the dapr-app-id header form with any method', async () => {
    const response = await fetch(`${sidecarA.url}/things/7?x=1`, { method: 'PUT', headers: { 'dapr-app-id': 'b', 'content-type': 'text/plain' }, body: 'hello' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-from-app')).toBe('b');
    const echo = (await response.json()) as Echo;
    expect([echo.method, echo.url, echo.body]).toEqual(['PUT', '/things/7?x=1', 'hello']);
    expect(echo.headers['dapr-app-id']).toBeUndefined();
  });

  it("returns the app's own status code and body", async () => {
    const response = await fetch(`${sidecarA.url}/v1.0/invoke/b/method/status/404`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as Echo).url).toBe('/status/404');
  });

  it('continues the caller’s W3C trace with a new parent id on each hop', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const incoming = `00-${traceId}-00f067aa0ba902b7-01`;
    const response = await fetch(`${sidecarA.url}/v1.0/invoke/b/method/trace`, { headers: { traceparent: incoming } });
    const seen = ((await response.json()) as Echo).headers.traceparent as string;
    expect(seen).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(seen).not.toBe(incoming);
  });

  it('starts a trace when the caller sends none', async () => {
    const response = await fetch(`${sidecarA.url}/v1.0/invoke/b/method/trace`);
    expect(((await response.json()) as Echo).headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('answers 500 ERR_DIRECT_INVOKE for an app id it cannot resolve', async () => {
    const response = await fetch(`${sidecarA.url}/v1.0/invoke/nobody/method/x`);
    expect(response.status).toBe(500);
    expect(((await response.json()) as { errorCode: string }).errorCode).toBe('ERR_DIRECT_INVOKE');
    await expect(client.invoker.invoke('nobody', 'x', HttpMethod.GET)).rejects.toThrow();
  });

  it('answers 500 ERR_DIRECT_INVOKE when the target app is down', async () => {
    const lonely = await startSidecar({ appId: 'c', appPort: 1, httpPort: 0, resourcesPaths: [], logLevel: 'silent' });
    try {
      const response = await fetch(`${lonely.url}/v1.0/invoke/c/method/x`);
      expect(response.status).toBe(500);
      expect(((await response.json()) as { errorCode: string }).errorCode).toBe('ERR_DIRECT_INVOKE');
    } finally {
      await lonely.stop();
    }
  });
});

describe('health and metadata', () => {
  it('answers healthz with 204 and describes itself in metadata for the SDK', async () => {
    expect((await fetch(`${sidecarB.url}/v1.0/healthz`)).status).toBe(204);
    const metadata = (await (await fetch(`${sidecarB.url}/v1.0/metadata`)).json()) as { id: string; appConnectionProperties: { port: number } };
    expect(metadata.id).toBe('b');
    expect(metadata.appConnectionProperties.port).toBe(appPort);
    await expect(client.metadata.get()).resolves.toMatchObject({ id: 'a' });
  });
});
