import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@agora/testing';
import { startSidecar, type RunningSidecar } from '../src/index.ts';
import { componentYaml, eventually, quietSdkLogger, resourcesDir } from './app-support.ts';

// pubsub.redis across a restart of Redis itself. The test runs its own redis-server (never the
// shared one on 6379) with appendonly, as a deployment that keeps its streams would, and restarts
// it while messages are being published and delivered: the consumer must reconnect, and every
// message must reach the app exactly once.

const TOPIC = 'orders-restart';
const GROUP = 'restart-app';
const TOTAL = 300;
const RESTART_AT = 100;

let redisPort: number;
let redisDir: string;
let redis: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  const child = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', redisDir], { stdio: 'ignore' });
  redis = child;
  await eventually(async () => {
    const probe = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }, `redis-server answers on ${redisPort}`, 10_000);
}

/** SIGTERM: Redis fsyncs its append-only file and exits, as on a restart. */
async function stopRedis(): Promise<void> {
  const child = redis;
  redis = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** The app: records each delivery's sequence number and answers SUCCESS after a short pause. */
const deliveries = new Map<number, number>();
let app: Server;
let appPort: number;
let sidecar: RunningSidecar;
let client: DaprClient;

beforeAll(async () => {
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'redis-restart-'));
  await startRedis();

  app = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'GET' && request.url === '/dapr/subscribe') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ pubsubname: 'pubsub', topic: TOPIC, route: '/orders' }]));
        return;
      }
      if (request.method !== 'POST' || request.url !== '/orders') return void response.writeHead(404).end();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { seq: number } };
      deliveries.set(event.data.seq, (deliveries.get(event.data.seq) ?? 0) + 1);
      // Keeps deliveries in flight while Redis goes away.
      setTimeout(() => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'SUCCESS' })), 5 + (event.data.seq % 20));
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const address = app.address();
  appPort = typeof address === 'object' && address ? address.port : 0;

  const resources = resourcesDir({
    'pubsub.yaml': componentYaml('pubsub', 'pubsub.redis', { redisHost: `127.0.0.1:${redisPort}`, consumerID: GROUP, processingTimeout: '2s', redeliverInterval: '200ms' }),
  });
  sidecar = await startSidecar({ appId: 'restart-app', appPort, httpPort: 0, resourcesPaths: [resources], logLevel: 'silent' });
  client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sidecar.httpPort), communicationProtocol: CommunicationProtocolEnum.HTTP, logger: { level: LogLevel.Error, service: quietSdkLogger } });
  await eventually(async () => ((await (await fetch(`${sidecar.url}/v1.0/metadata`)).json()) as { subscriptions: unknown[] }).subscriptions.length === 1, 'the sidecar subscribed', 10_000);
}, 30_000);

afterAll(async () => {
  await sidecar?.stop();
  await new Promise((resolve) => app?.close(resolve));
  await stopRedis();
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
}, 30_000);

describe('pubsub.redis when Redis restarts', () => {
  it('delivers every message exactly once, with the consumer reconnecting after the restart', async () => {
    let failedPublishes = 0;
    let restarted: Promise<void> | undefined;
    for (let seq = 0; seq < TOTAL; seq += 1) {
      if (seq === RESTART_AT) {
        // Mid-stream: published messages are still being delivered when Redis stops.
        expect(deliveries.size).toBeLessThan(RESTART_AT);
        await stopRedis();
        // Back once the publisher has seen it down, while it goes on publishing.
        restarted = eventually(() => failedPublishes >= 1, 'publishing failed while Redis was down', 30_000).then(startRedis);
      }
      // A publisher retries a publish the sidecar refused (the SDK resolves with { error }).
      const deadline = Date.now() + 30_000;
      for (;;) {
        const { error } = await client.pubsub.publish('pubsub', TOPIC, { seq });
        if (!error) break;
        failedPublishes += 1;
        if (Date.now() > deadline) throw new Error(`publishing ${seq} kept failing: ${error.message}`);
        await sleep(50);
      }
    }
    await restarted;
    expect(failedPublishes).toBeGreaterThanOrEqual(1);

    await eventually(() => deliveries.size === TOTAL, `all ${TOTAL} messages were delivered (got ${deliveries.size})`, 60_000);
    // Nothing is left pending in the group, so nothing can be delivered again.
    const admin = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true });
    try {
      await eventually(async () => ((await admin.call('XPENDING', TOPIC, GROUP)) as [number])[0] === 0, 'every message was acknowledged', 30_000);
      expect(await admin.xlen(TOPIC)).toBe(TOTAL);
    } finally {
      await admin.quit();
    }
    const duplicated = [...deliveries].filter(([, count]) => count !== 1);
    expect(duplicated).toEqual([]);
    expect([...deliveries.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, seq) => seq));
  }, 120_000);
});
