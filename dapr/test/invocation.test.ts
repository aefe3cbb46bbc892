import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { CommunicationProtocolEnum, DaprClient, HttpMethod } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '@agora/testing';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { eventually, resourcesDir, TestApp } from './app-support.ts';

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
  const resources = tempDir('sidecar-invoke-');
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

// daprd applies the `targets.apps` policy of the target in the caller's sidecar only
// (pkg/api/http/directmessaging.go); the target's sidecar calls its app once (CallLocal,
// pkg/api/grpc/daprinternal.go). Both sidecars load the same Resiliency file, as in a deployment,
// so a policy applied on both sides would multiply the attempts the app sees.
describe('resiliency of service invocation across two sidecars', () => {
  const resiliency = [
    'apiVersion: dapr.io/v1alpha1',
    'kind: Resiliency',
    'metadata: { name: invocation-resiliency }',
    'spec:',
    '  policies:',
    '    timeouts:',
    '      quick: 200ms',
    '    retries:',
    '      twice: { policy: constant, duration: 10ms, maxRetries: 2 }',
    '    circuitBreakers:',
    '      afterThree: { maxRequests: 1, timeout: 300ms, trip: consecutiveFailures >= 3 }',
    '  targets:',
    '    apps:',
    '      flaky: { retry: twice }',
    '      fragile: { circuitBreaker: afterThree }',
    '      slow: { timeout: quick }',
  ].join('\n');

  /** An app whose /work fails with 500 `failures` times, then answers 200; counts every attempt. */
  async function failingApp(failures: number): Promise<{ app: TestApp; attempts: () => number }> {
    let attempts = 0;
    const app = await new TestApp({
      answer: (request) => {
        if (request.path !== '/work') return undefined;
        attempts += 1;
        return attempts <= failures ? { status: 500, body: JSON.stringify({ attempt: attempts, failed: true }) } : { status: 200, body: JSON.stringify({ attempt: attempts }) };
      },
    }).start();
    return { app, attempts: () => attempts };
  }

  async function twoSidecars(targetId: string, app: { port: number; stop(): Promise<void> }): Promise<{ caller: RunningSidecar; callee: RunningSidecar; stop: () => Promise<void> }> {
    const resources = resourcesDir({ 'resiliency.yaml': resiliency });
    const callee = await startSidecar({ appId: targetId, appPort: app.port, httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
    const caller = await startSidecar({ appId: 'caller', httpPort: 0, resourcesPaths: [resources], peers: { [targetId]: callee.url }, logLevel: 'silent' });
    return {
      caller,
      callee,
      stop: async () => {
        await caller.stop();
        await callee.stop();
        await app.stop();
      },
    };
  }

  it('retries a failing app maxRetries times in all, not once per sidecar', async () => {
    const { app, attempts } = await failingApp(4);
    const { caller, stop } = await twoSidecars('flaky', app);
    try {
      const first = await fetch(`${caller.url}/v1.0/invoke/flaky/method/work`, { method: 'POST' });
      // 1 attempt + 2 retries, then the app's own last answer is relayed.
      expect(first.status).toBe(500);
      expect(await first.json()).toEqual({ attempt: 3, failed: true });
      expect(attempts()).toBe(3);
      const second = await fetch(`${caller.url}/v1.0/invoke/flaky/method/work`, { method: 'POST' });
      expect(second.status).toBe(200);
      expect(await second.json()).toEqual({ attempt: 5 });
      expect(attempts()).toBe(5);
    } finally {
      await stop();
    }
  });

  it('applies the policy when an app invokes itself through its own sidecar', async () => {
    const { app, attempts } = await failingApp(1);
    const resources = resourcesDir({ 'resiliency.yaml': resiliency });
    const own = await startSidecar({ appId: 'flaky', appPort: app.port, httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
    try {
      const response = await fetch(`${own.url}/v1.0/invoke/flaky/method/work`, { method: 'POST' });
      expect([response.status, attempts()]).toEqual([200, 2]);
    } finally {
      await own.stop();
      await app.stop();
    }
  });

  it("opens the caller's circuit breaker after the trip count, refuses without reaching the app, and closes after a trial succeeds", async () => {
    const { app, attempts } = await failingApp(3);
    const { caller, stop } = await twoSidecars('fragile', app);
    try {
      for (let i = 1; i <= 3; i += 1) {
        const response = await fetch(`${caller.url}/v1.0/invoke/fragile/method/work`, { method: 'POST' });
        expect(response.status).toBe(500);
        expect(attempts()).toBe(i);
      }
      const refused = await fetch(`${caller.url}/v1.0/invoke/fragile/method/work`, { method: 'POST' });
      expect(refused.status).toBe(500);
      expect(((await refused.json()) as { errorCode: string }).errorCode).toBe('ERR_DIRECT_INVOKE');
      expect(attempts()).toBe(3);
      // Refused calls while open never reach the app; after the breaker's timeout one trial does.
      await eventually(async () => (await fetch(`${caller.url}/v1.0/invoke/fragile/method/work`, { method: 'POST' })).status === 200, 'the breaker let a trial call through', 5_000);
      expect(attempts()).toBe(4);
      const closed = await fetch(`${caller.url}/v1.0/invoke/fragile/method/work`, { method: 'POST' });
      expect([closed.status, attempts()]).toEqual([200, 5]);
    } finally {
      await stop();
    }
  });

  it("ends the call at the caller's timeout, and the target's sidecar stops waiting for its app", async () => {
    let closed = 0;
    let started = 0;
    const hanging = createServer((_request, response) => {
      started += 1;
      // Never answers; counts the requests its caller abandons.
      response.on('close', () => (closed += 1));
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const address = hanging.address();
    const app = {
      port: typeof address === 'object' && address ? address.port : 0,
      stop: async () => {
        hanging.closeAllConnections();
        await new Promise((resolve) => hanging.close(resolve));
      },
    };
    const { caller, stop } = await twoSidecars('slow', app);
    try {
      const before = Date.now();
      const response = await fetch(`${caller.url}/v1.0/invoke/slow/method/wait`, { method: 'POST', body: 'x' });
      expect(response.status).toBe(500);
      expect(((await response.json()) as { errorCode: string }).errorCode).toBe('ERR_DIRECT_INVOKE');
      expect(Date.now() - before).toBeLessThan(3_000);
      await eventually(() => closed === 1, 'the app saw its request abandoned');
      expect(started).toBe(1);
    } finally {
      await stop();
    }
  });

  it('keeps the caller id a sidecar states, not one the calling app sends', async () => {
    const app = await new TestApp({ answer: (request) => ({ status: 200, body: JSON.stringify({ caller: request.headers['dapr-caller-app-id'] }) }) }).start();
    const { caller, stop } = await twoSidecars('flaky', app);
    try {
      const response = await fetch(`${caller.url}/v1.0/invoke/flaky/method/who`, { headers: { 'dapr-caller-app-id': 'someone-else' } });
      expect(await response.json()).toEqual({ caller: 'caller' });
    } finally {
      await stop();
    }
  });
});
