import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraph, type HealthDetails, type RunningSubgraph } from '@agora/service';
import { startSidecar, type RunningSidecar } from '@agora/sidecar';
import { createTestDatabase, freePort, startTestIssuer, tempDir, type TestDatabase, type TestIssuer } from '@agora/testing';
import type { Context } from '../src/context.ts';
import { loadEnv } from '../src/env.ts';
import { createPaymentsSubgraph, type PaymentsSubgraph } from '../src/subgraph.ts';
import { chargeOf, eventually, failureOf, newOrderId, paymentsClient, serviceTokenOf, type PaymentsClient } from './utils.ts';

// Payments' /health/details as the gateway reads it: started as src/index.ts starts it, beside its
// own local sidecar, whose outbound pub/sub breaker it reports with the provider's own breaker.

const embeddedPubsub = fileURLToPath(new URL('../../../dapr/components-embedded/pubsub.yaml', import.meta.url));
const resiliency = [
  'apiVersion: dapr.io/v1alpha1',
  'kind: Resiliency',
  'metadata: { name: health-resiliency }',
  'spec:',
  '  policies:',
  '    circuitBreakers:',
  '      publishBreaker: { maxRequests: 1, timeout: 30s, trip: consecutiveFailures >= 5 }',
  '  targets:',
  '    components:',
  '      pubsub:',
  '        outbound: { circuitBreaker: publishBreaker }',
].join('\n');

let database: TestDatabase;
let issuer: TestIssuer;
let module: PaymentsSubgraph;
let payments: RunningSubgraph<Context>;
let sidecar: RunningSidecar | undefined;
let client: PaymentsClient;

beforeAll(async () => {
  database = await createTestDatabase('test_payments_health');
  issuer = await startTestIssuer();
  const resources = tempDir('payments-health-');
  copyFileSync(embeddedPubsub, join(resources, 'pubsub.yaml'));
  writeFileSync(join(resources, 'resiliency.yaml'), resiliency);
  // The app needs its sidecar's port before either starts, and the sidecar the app's port.
  const daprHttpPort = await freePort();
  const env = loadEnv({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    OIDC_ISSUER_URL: issuer.issuer,
    DAPR_HTTP_PORT: String(daprHttpPort),
    PAYMENT_PROVIDER_TIMEOUT_MS: '200',
    PAYMENT_BREAKER_VOLUME_THRESHOLD: '2',
    PAYMENT_BREAKER_RESET_TIMEOUT_MS: '60000',
  });
  module = createPaymentsSubgraph(env);
  payments = await startSubgraph(module, env);
  sidecar = await startSidecar({ appId: 'payments', appPort: payments.port, httpPort: daprHttpPort, resourcesPaths: [resources], logLevel: 'silent' });
  const service = serviceTokenOf(issuer);
  client = paymentsClient(payments.url, () => service.token());
});

afterAll(async () => {
  await payments?.stop();
  await sidecar?.stop();
  await issuer?.close();
  await database?.drop();
});

const details = async (url = new URL('/health/details', payments.url).href): Promise<HealthDetails> => {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return (await response.json()) as HealthDetails;
};

describe('payments /health/details', () => {
  it('reports its database, its sidecar up and its provider breaker closed, also through Dapr invocation', async () => {
    const direct = await details();
    expect(direct).toEqual({
      service: 'payments',
      status: 'up',
      checks: [{ name: 'database', ok: true }],
      sidecar: { status: 'up', breakers: [] },
      breakers: [{ name: 'payment-provider', state: 'closed' }],
    });
    expect(await details(`${sidecar?.url}/v1.0/invoke/payments/method/health/details`)).toMatchObject({ service: 'payments', status: 'up' });
  });

  it("lists its sidecar's breaker once the outbox relay has published through it", async () => {
    expect(await client.charge.mutate(chargeOf(newOrderId(), 'pm_card_visa'))).toMatchObject({ status: 'CAPTURED' });
    await eventually(async () => (await details()).sidecar.breakers?.length === 1);
    expect((await details()).sidecar.breakers).toEqual([{ policy: 'publishBreaker', target: 'component[pubsub]', state: 'closed' }]);
  });

  it('reports the provider breaker open, and the service degraded, after provider timeouts', async () => {
    for (const orderId of [newOrderId(), newOrderId()]) await failureOf(client.charge.mutate(chargeOf(orderId, 'pm_card_timeout')));
    expect(module.runtime().provider.state()).toBe('open');
    expect(await details()).toMatchObject({ status: 'degraded', checks: [{ name: 'database', ok: true }], breakers: [{ name: 'payment-provider', state: 'open' }] });
  });

  it('reports its sidecar down once the sidecar stops', async () => {
    await sidecar?.stop();
    sidecar = undefined;
    const report = await details();
    expect(report.sidecar).toMatchObject({ status: 'down', breakers: null });
    expect(report.status).toBe('degraded');
  });
});
