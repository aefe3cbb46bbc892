import { randomUUID } from 'node:crypto';
import { SpanKind, trace, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { CommunicationProtocolEnum, DaprClient, HttpMethod, LogLevel } from '@dapr/dapr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { componentYaml, eventually, quietSdkLogger, resourcesDir, TestApp, type CloudEvent } from './app-support.ts';

// The sidecar records a span per hop through the OpenTelemetry API; this file registers an SDK
// with an in-memory exporter, as a process hosting sidecars would register its own.

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
trace.setGlobalTracerProvider(provider);
const appTracer = provider.getTracer('app-a');

const topic = `agora-test-${randomUUID().slice(0, 8)}-traced`;
let app: TestApp;
let sidecarA: RunningSidecar;
let sidecarB: RunningSidecar;
let client: DaprClient;

const traceparentOf = (span: Span | ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;

/** The finished span of this trace with that name and kind. */
async function span(traceId: string, name: string, kind: SpanKind): Promise<ReadableSpan> {
  const find = () => exporter.getFinishedSpans().find((candidate) => candidate.spanContext().traceId === traceId && candidate.name === name && candidate.kind === kind);
  await eventually(() => find() !== undefined, `span ${name} (${SpanKind[kind]}) has ended`);
  return find() as ReadableSpan;
}

beforeAll(async () => {
  app = await new TestApp({
    subscribe: [{ pubsubname: 'pubsub', topic, route: '/traced' }],
    answer: (request) => (request.path.startsWith('/orders/') ? { status: 200, body: '{"ok":true}' } : undefined),
  }).start();
  const resources = resourcesDir({ 'components.yaml': [componentYaml('pubsub', 'pubsub.in-memory'), componentYaml('statestore', 'state.in-memory')].join('\n---\n') });
  sidecarB = await startSidecar({ appId: 'b', appPort: app.port, httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
  sidecarA = await startSidecar({ appId: 'a', httpPort: 0, resourcesPaths: [resources], peers: { b: sidecarB.url }, logLevel: 'silent' });
  client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sidecarA.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error, service: quietSdkLogger } });
  await eventually(async () => {
    const metadata = (await fetch(`${sidecarB.url}/v1.0/metadata`).then((response) => response.json())) as { subscriptions?: unknown[] };
    return (metadata.subscriptions ?? []).length === 1;
  }, 'app b has subscribed');
});

afterAll(async () => {
  await sidecarA?.stop();
  await sidecarB?.stop();
  await app?.stop();
  await provider.shutdown();
  trace.disable();
});

describe('spans per hop', () => {
  it("joins an invocation from app A through both sidecars to app B into A's trace", async () => {
    const root = appTracer.startSpan('checkout', { kind: SpanKind.CLIENT });
    const { traceId } = root.spanContext();
    await expect(client.invoker.invoke('b', 'orders/7', HttpMethod.GET, undefined, { headers: { traceparent: traceparentOf(root) } })).resolves.toEqual({ ok: true });
    root.end();

    const callerSide = await span(traceId, 'CallLocal/b/orders/7', SpanKind.CLIENT);
    const calleeSide = await span(traceId, 'CallLocal/b/orders/7', SpanKind.SERVER);
    expect(callerSide.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(calleeSide.parentSpanContext?.spanId).toBe(callerSide.spanContext().spanId);
    expect(callerSide.attributes).toMatchObject({ 'rpc.service': 'ServiceInvocation', 'net.peer.name': 'b', 'dapr.status_code': '200' });
    expect(app.received.find((request) => request.path === '/orders/7')?.headers.traceparent).toBe(traceparentOf(calleeSide));
  });

  it("records the publish as a producer span and the delivery to the app as a consumer span in the publisher's trace", async () => {
    const root = appTracer.startSpan('place order');
    const { traceId } = root.spanContext();
    const mark = randomUUID();
    // The SDK's publish sends no trace headers; an instrumented app's HTTP client would.
    const response = await fetch(`${sidecarA.url}/v1.0/publish/pubsub/${topic}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: traceparentOf(root) },
      body: JSON.stringify({ mark }),
    });
    expect(response.status).toBe(204);
    root.end();

    const producer = await span(traceId, `/v1.0/publish/pubsub/${topic}`, SpanKind.PRODUCER);
    expect(producer.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    const consumer = await span(traceId, `pubsub/${topic}`, SpanKind.CONSUMER);
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer.attributes).toMatchObject({ 'messaging.system': 'pubsub', 'messaging.destination.name': topic });

    const [delivery] = app.deliveriesOf(mark);
    expect((delivery?.json as CloudEvent | undefined)?.['traceparent']).toBe(traceparentOf(producer));
    expect(delivery?.headers.traceparent).toBe(traceparentOf(consumer));
  });

  it("records a state call as a client span, child of the caller's traceparent", async () => {
    const root = appTracer.startSpan('save cart');
    const { traceId } = root.spanContext();
    const response = await fetch(`${sidecarA.url}/v1.0/state/statestore`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: traceparentOf(root) },
      body: JSON.stringify([{ key: 'cart', value: { items: 2 } }]),
    });
    expect(response.status).toBe(204);
    root.end();
    const saved = await span(traceId, '/v1.0/state/statestore', SpanKind.CLIENT);
    expect(saved.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(saved.attributes).toMatchObject({ 'db.system': 'state', 'db.name': 'statestore', 'db.statement': 'POST /v1.0/state/statestore' });
  });
});
