import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSagaSystem, type SagaSystem } from './saga-support.ts';

// The CLI demo (packages/cli, README "Try the saga") against the running system, once for each of
// the five test payment methods it offers by default, in one run. The provider confirms 3-D Secure
// after 1 s; a step has 4 s, so the charge that never answers ends by the step timeout.

const MOUSE = '7c0a1000-0000-4000-8000-000000000002';
let agora: SagaSystem;

beforeAll(async () => {
  agora = await startSagaSystem({
    SIMULATED_PROVIDER_CONFIRMATION: 'succeed',
    SIMULATED_PROVIDER_CONFIRMATION_DELAY_MS: '1000',
    PAYMENT_CONFIRMATION_TIMEOUT_SECONDS: '15',
    SAGA_STEP_TIMEOUT_SECONDS: '4',
    PAYMENT_PROVIDER_TIMEOUT_MS: '8000',
  });
}, 120_000);

afterAll(async () => {
  await agora?.stop();
});

describe('the CLI demo', () => {
  it('runs the saga for each of its five default payment methods and prints how each ended', async () => {
    const before = await agora.stockOf(MOUSE);
    const [{ now: startedAt } = { now: '' }] = await agora.query<{ now: string }>('orders', 'select now()::text as now');
    const demo = fileURLToPath(new URL('../../packages/cli/src/demo.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [demo, '--gateway', agora.system.gatewayUrl, '--issuer', agora.system.issuer, '--user', 'bob', '--timeout-seconds', '30'], {
      timeout: 100_000,
    });
    // One section per method, in the order of the default list.
    const sections = stdout.split(/\n(?=bob buys )/).filter((section) => section.startsWith('bob buys '));
    const byMethod = Object.fromEntries(sections.map((section) => [/with (\S+)/.exec(section)?.[1] ?? '?', section]));
    expect(Object.keys(byMethod)).toEqual(['pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_threeDSecureRequired', 'pm_card_flaky', 'pm_card_timeout']);

    expect(byMethod['pm_card_visa']).toMatch(/→ charge-payment\s+SUCCEEDED/);
    expect(byMethod['pm_card_visa']).toMatch(/⇒ CONFIRMED; saga COMPLETED/);

    expect(byMethod['pm_card_chargeDeclined']).toMatch(/→ charge-payment\s+REJECTED/);
    expect(byMethod['pm_card_chargeDeclined']).toMatch(/↩ release-stock\s+SUCCEEDED/);
    expect(byMethod['pm_card_chargeDeclined']).toMatch(/⇒ CANCELLED \(charge-payment: .*declined.*\); saga COMPLETED/);

    expect(byMethod['pm_card_threeDSecureRequired']).toMatch(/… await-payment-confirmation/);
    expect(byMethod['pm_card_threeDSecureRequired']).toMatch(/⇒ CONFIRMED; saga COMPLETED/);

    expect(byMethod['pm_card_flaky']).toMatch(/→ charge-payment\s+SUCCEEDED/);
    expect(byMethod['pm_card_flaky']).toMatch(/⇒ CONFIRMED; saga COMPLETED/);

    expect(byMethod['pm_card_timeout']).toMatch(/↩ cancel-payment\s+SUCCEEDED/);
    expect(byMethod['pm_card_timeout']).toMatch(/⇒ CANCELLED \(charge-payment: charge-payment did not finish within 4 s\); saga COMPLETED/);

    // Three sold, two given back.
    expect(await agora.stockOf(MOUSE)).toBe(before - 3);
    const orders = await agora.query<{ status: string; payment_method: string }>('orders', 'select status, payment_method from orders where created_at >= $1::timestamptz order by created_at', [startedAt]);
    expect(orders).toEqual([
      { status: 'CONFIRMED', payment_method: 'pm_card_visa' },
      { status: 'CANCELLED', payment_method: 'pm_card_chargeDeclined' },
      { status: 'CONFIRMED', payment_method: 'pm_card_threeDSecureRequired' },
      { status: 'CONFIRMED', payment_method: 'pm_card_flaky' },
      { status: 'CANCELLED', payment_method: 'pm_card_timeout' },
    ]);
  }, 120_000);
});
