import { randomUUID } from 'node:crypto';
import { createLogger } from '@agora/service';
import { CommunicationProtocolEnum, DaprClient, HttpMethod, LogLevel } from '@dapr/dapr';
import { afterEach, describe, expect, it } from 'vitest';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { componentYaml, eventually, quietSdkLogger, resourcesDir, TestApp, type AppOptions } from './app-support.ts';

// How the app channel reads an app's subscriptions, as daprd's GetSubscriptionsHTTP does: a 404
// from GET /dapr/subscribe means "no programmatic subscriptions" (logged at debug), so does an
// empty body or `null`; an app is not asked at all when no pub/sub component is loaded.

interface LogEntry {
  level: number;
  msg: string;
}

const WARN = 40;
const topic = `agora-test-${randomUUID().slice(0, 8)}-declared`;
const declared = ['apiVersion: dapr.io/v2alpha1', 'kind: Subscription', 'metadata: { name: declared }', 'spec:', '  pubsubname: pubsub', `  topic: ${topic}`, '  route: /declared'].join('\n');

const running: { sidecar: RunningSidecar; app: TestApp }[] = [];

afterEach(async () => {
  for (const { sidecar, app } of running.splice(0)) {
    await sidecar.stop();
    await app.stop();
  }
});

/** Starts an app and its sidecar, keeping the sidecar's log entries. */
async function start(options: AppOptions, files: Record<string, string>): Promise<{ app: TestApp; sidecar: RunningSidecar; logs: LogEntry[] }> {
  const logs: LogEntry[] = [];
  const logger = createLogger('app-channel-test', 'debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogEntry) });
  const app = await new TestApp(options).start();
  const sidecar = await startSidecar({ appId: 'subscriber', appPort: app.port, httpPort: 0, resourcesPaths: [resourcesDir(files)], logger });
  running.push({ sidecar, app });
  return { app, sidecar, logs };
}

/** The subscriptions are in place once the declarative one is listed: the app's answer has been read by then. */
async function declarativeSubscribed(sidecar: RunningSidecar): Promise<void> {
  const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sidecar.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error, service: quietSdkLogger } });
  await eventually(async () => {
    const metadata = (await client.metadata.get()) as unknown as { subscriptions?: { topic: string }[] };
    return (metadata.subscriptions ?? []).some((subscription) => subscription.topic === topic);
  }, 'the declarative subscription is active');
}

const withPubSub = { 'pubsub.yaml': componentYaml('pubsub', 'pubsub.in-memory'), 'subscription.yaml': declared };
const warningsOf = (logs: LogEntry[]) => logs.filter((entry) => entry.level >= WARN).map((entry) => entry.msg);

describe('the app channel reading GET /dapr/subscribe', () => {
  it('takes a 404 as no programmatic subscriptions, without a warning or an error', async () => {
    const { app, sidecar, logs } = await start({}, withPubSub);
    await declarativeSubscribed(sidecar);
    expect(app.received.filter((request) => request.path === '/dapr/subscribe').map((request) => request.method)).toEqual(['GET']);
    expect(warningsOf(logs)).toEqual([]);
  });

  it('takes an empty body or null as no programmatic subscriptions, quietly', async () => {
    for (const body of ['', 'null']) {
      const { sidecar, logs } = await start({ subscribe: { status: 200, body } }, withPubSub);
      await declarativeSubscribed(sidecar);
      expect(warningsOf(logs)).toEqual([]);
    }
  });

  it('logs an error, as daprd does, when the answer is JSON but not an array, and keeps the declarative subscriptions', async () => {
    const { sidecar, logs } = await start({ subscribe: { status: 200, body: '{"pubsubname":"pubsub"}' } }, withPubSub);
    await declarativeSubscribed(sidecar);
    expect(warningsOf(logs)).toEqual(['error getting topics from app: GET /dapr/subscribe must answer a JSON array']);
  });

  it('does not ask an app for its subscriptions when no pub/sub component is loaded (as daprd)', async () => {
    const { app, sidecar, logs } = await start({ answer: () => ({ status: 200, body: '{"hello":"world"}' }) }, { 'state.yaml': componentYaml('state', 'state.in-memory') });
    const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sidecar.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error, service: quietSdkLogger } });
    await expect(client.invoker.invoke('subscriber', 'hello', HttpMethod.GET)).resolves.toEqual({ hello: 'world' });
    // An app that is asked is first probed (HEAD /) as soon as its sidecar starts, before this call.
    expect(app.received.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /hello']);
    expect(warningsOf(logs)).toEqual([]);
  });
});
