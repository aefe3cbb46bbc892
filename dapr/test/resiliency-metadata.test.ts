import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { eventually, resourcesDir, TestApp } from './app-support.ts';

// The Agora extension of GET /v1.0/metadata (docs/adr/0017-service-health-report.md): the sidecar's
// circuit breakers and their states, which daprd reports only as a metric.

const resiliency = [
  'apiVersion: dapr.io/v1alpha1',
  'kind: Resiliency',
  'metadata: { name: metadata-resiliency }',
  'spec:',
  '  policies:',
  '    circuitBreakers:',
  '      afterThree: { maxRequests: 1, timeout: 1s, trip: consecutiveFailures >= 3 }',
  '  targets:',
  '    apps:',
  '      fragile: { circuitBreaker: afterThree }',
].join('\n');

interface Metadata {
  id: string;
  resiliency?: { circuitBreakers: { policy: string; target: string; state: string }[] };
}

let failing = true;
let app: TestApp;
let callee: RunningSidecar;
let caller: RunningSidecar;

beforeAll(async () => {
  app = await new TestApp({ answer: (request) => (request.path === '/work' ? { status: failing ? 500 : 200, body: '{}' } : undefined) }).start();
  const resources = resourcesDir({ 'resiliency.yaml': resiliency });
  callee = await startSidecar({ appId: 'fragile', appPort: app.port, httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
  caller = await startSidecar({ appId: 'caller', httpPort: 0, resourcesPaths: [resources], peers: { fragile: callee.url }, logLevel: 'silent' });
});

afterAll(async () => {
  await caller?.stop();
  await callee?.stop();
  await app?.stop();
});

const metadataOf = async (sidecar: RunningSidecar): Promise<Metadata> => (await (await fetch(`${sidecar.url}/v1.0/metadata`)).json()) as Metadata;
const breakersOf = async (sidecar: RunningSidecar) => (await metadataOf(sidecar)).resiliency?.circuitBreakers;
const invoke = () => fetch(`${caller.url}/v1.0/invoke/fragile/method/work`, { method: 'POST' });

describe('circuit breakers in /v1.0/metadata', () => {
  it('lists no breaker before its target is first called', async () => {
    expect(await breakersOf(caller)).toEqual([]);
    expect(await breakersOf(callee)).toEqual([]);
  });

  it('shows the breaker that failing invocations opened, then half-open after its timeout, then closed after a trial succeeds', async () => {
    expect((await invoke()).status).toBe(500);
    expect(await breakersOf(caller)).toEqual([{ policy: 'afterThree', target: 'app[fragile]', state: 'closed' }]);
    await invoke();
    await invoke();
    expect(await breakersOf(caller)).toEqual([{ policy: 'afterThree', target: 'app[fragile]', state: 'open' }]);
    // The target's sidecar calls its app without a policy (daprd's CallLocal), so it has no breaker.
    expect(await breakersOf(callee)).toEqual([]);

    await eventually(async () => (await breakersOf(caller))?.[0]?.state === 'half-open', 'the breaker reported half-open');
    failing = false;
    await eventually(async () => (await invoke()).status === 200, 'a trial call went through');
    expect(await breakersOf(caller)).toEqual([{ policy: 'afterThree', target: 'app[fragile]', state: 'closed' }]);
  });

  it('keeps the fields daprd answers with beside the extension', async () => {
    const metadata = await metadataOf(caller);
    expect(Object.keys(metadata)).toEqual(expect.arrayContaining(['id', 'runtimeVersion', 'components', 'subscriptions', 'extended', 'appConnectionProperties', 'resiliency']));
    expect(metadata.id).toBe('caller');
  });
});
