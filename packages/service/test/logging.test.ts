import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '@agora/auth';
import { recordSpansInMemory, type SpanRecorder } from '@agora/telemetry';
import { audit, createLogger, requireAdmin, requireOwnerOrAdmin, type Logger } from '../src/index.ts';

type Line = Record<string, unknown>;

function capture(level = 'info'): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { logger: createLogger('orders', level, { write: (line: string) => void lines.push(JSON.parse(line) as Line) }), lines };
}

const caller = (sub: string, roles: string[]): Caller => ({ sub, username: sub, email: `${sub}@agora.test`, givenName: 'Alice', familyName: 'Liddell', roles, token: 'eyJhbGciOiJSUzI1NiJ9.secret' });

let spans: SpanRecorder;
beforeAll(() => {
  spans = recordSpansInMemory('logging-test');
});
afterAll(() => spans.stop());

describe('JSON logs', () => {
  it('carries the trace and span id of the active span on every line, and none outside a span', () => {
    const { logger, lines } = capture();
    const ids = trace.getTracer('test').startActiveSpan('request', (span) => {
      logger.info('inside');
      logger.child({ component: 'relay' }).warn('inside, from a child');
      span.end();
      return span.spanContext();
    });
    logger.info('outside');
    expect(lines.map((line) => [line['msg'], line['trace_id'], line['span_id']])).toEqual([
      ['inside', ids.traceId, ids.spanId],
      ['inside, from a child', ids.traceId, ids.spanId],
      ['outside', undefined, undefined],
    ]);
    expect(lines[0]).toMatchObject({ service: 'orders', level: 30 });
  });

  it('masks emails and names, and removes payment details and credentials, wherever they are logged', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        email: 'alice.liddell@agora.test',
        user: { firstName: 'Alice', lastName: 'Liddell', email: 'alice@agora.test' },
        caller: caller('5a1f0c1e', ['customer']),
        payment: { paymentMethod: 'pm_card_visa', card: { number: '4242424242424242' } },
        request: { headers: { authorization: 'Bearer eyJ.secret' } },
        orderId: '0d0e1000-0000-4000-8000-000000000001',
      },
      'order placed',
    );
    const [line] = lines;
    expect(line).toMatchObject({
      email: 'a******l@agora.test',
      user: { firstName: 'A***', lastName: 'L***', email: 'a***e@agora.test' },
      caller: { email: '5******e@agora.test', givenName: 'A***', familyName: 'L***', username: '5***', token: '[REDACTED]', sub: '5a1f0c1e' },
      payment: { paymentMethod: '[REDACTED]', card: '[REDACTED]' },
      request: { headers: { authorization: '[REDACTED]' } },
      orderId: '0d0e1000-0000-4000-8000-000000000001',
    });
    expect(JSON.stringify(lines)).not.toMatch(/alice\.liddell|4242|Liddell|eyJ/);
  });

  it('masks email addresses quoted in error messages and stacks', () => {
    const { logger, lines } = capture();
    logger.error({ err: new Error('duplicate key value violates unique constraint: Key (email)=(bob.builder@agora.test) already exists') }, 'insert failed');
    const err = lines[0]?.['err'] as { message: string; stack: string };
    expect(err.message).toContain('b******r@agora.test');
    expect(err.stack).not.toContain('bob.builder@');
  });

  // Regression: `{ err: 'a string' }` threw inside the serializer, and the request that logged it
  // answered a bare 500 (the sidecar's failed invocations; found by the chaos suite).
  it('logs an err that is not an Error (a string, an object) instead of throwing', () => {
    const { logger, lines } = capture();
    expect(() => logger.warn({ err: 'connect ECONNREFUSED for bob.builder@agora.test' }, 'failed')).not.toThrow();
    expect(() => logger.warn({ err: { code: 'E42' } }, 'failed')).not.toThrow();
    expect(lines.map((line) => line['err'])).toEqual([{ message: 'connect ECONNREFUSED for b******r@agora.test' }, { code: 'E42' }]);
  });
});

describe('the audit log', () => {
  it('writes sensitive operations with audit: true, the actor by sub and roles, whatever the log level', () => {
    const { logger, lines } = capture('warn');
    audit(logger, { action: 'inventory.restockProduct', outcome: 'succeeded', actor: caller('admin-sub', ['admin', 'customer']), resource: 'product:7c0a', quantity: 10 });
    audit(logger, { action: 'payments.refund', outcome: 'succeeded', resource: 'payment:1', amount: { amount: 8900, currency: 'EUR' } });
    logger.info('not an audit line: below the level');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ audit: true, level: 30, action: 'inventory.restockProduct', outcome: 'succeeded', actor: { sub: 'admin-sub', roles: ['admin', 'customer'], admin: true }, resource: 'product:7c0a', quantity: 10 });
    expect(lines[1]).toMatchObject({ audit: true, action: 'payments.refund', actor: { sub: 'system' } });
    expect(JSON.stringify(lines)).not.toContain('eyJ');
  });

  it('records role-restricted access: admin reads of other users’ data and every refusal, not owners reading their own', () => {
    const { logger, lines } = capture('silent');
    expect(() => requireAdmin(caller('alice', ['customer']), { log: logger, action: 'orders.sagas.read' })).toThrow();
    expect(lines).toEqual([]);

    const { logger: audited, lines: written } = capture('info');
    expect(() => requireAdmin(caller('alice', ['customer']), { log: audited, action: 'orders.sagas.read', resource: 'sagas:ALL' })).toThrow('admin role');
    requireAdmin(caller('root', ['admin']), { log: audited, action: 'orders.sagas.read', resource: 'sagas:ALL' });
    requireOwnerOrAdmin(caller('alice', ['customer']), 'alice', { log: audited, action: 'orders.order.read', resource: 'order:1' });
    requireOwnerOrAdmin(caller('root', ['admin']), 'alice', { log: audited, action: 'orders.order.read', resource: 'order:1' });
    expect(() => requireOwnerOrAdmin(caller('bob', ['customer']), 'alice', { log: audited, action: 'orders.order.read', resource: 'order:1' })).toThrow();
    expect(written.map((line) => [line['action'], line['outcome'], (line['actor'] as { sub: string }).sub, line['owner']])).toEqual([
      ['orders.sagas.read', 'denied', 'alice', undefined],
      ['orders.sagas.read', 'allowed', 'root', undefined],
      ['orders.order.read', 'allowed', 'root', 'alice'],
      ['orders.order.read', 'denied', 'bob', 'alice'],
    ]);
  });
});
