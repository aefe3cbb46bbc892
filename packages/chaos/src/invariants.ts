import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Databases } from './databases.ts';
import { streamBacklog, type GroupBacklog } from './event-streams.ts';

// What must hold after every scenario, read with SQL from each service's database and from the
// pub/sub streams. Rows that existed before the load (seed data) are left out.

export const INVARIANTS = ['terminal', 'stock', 'captures', 'refunds', 'events-lost', 'events-twice'] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export const INVARIANT_TITLES: Record<InvariantName, string> = {
  terminal: 'every order terminal',
  stock: 'stock + reservations = confirmed orders',
  captures: 'captured = confirmed totals',
  refunds: 'refunds = compensated captures',
  'events-lost': 'no event lost',
  'events-twice': 'no event applied twice',
};

export interface InvariantResult {
  ok: boolean;
  /** The numbers behind the verdict, short enough for a table cell. */
  detail: string;
  /** Why it failed, with ids (for the report below the table). */
  problems: string[];
}

export type InvariantResults = Record<InvariantName, InvariantResult>;

/** Workflow runtime statuses (durabletask OrchestrationStatus): COMPLETED, FAILED, CANCELED, TERMINATED end an instance. */
const WORKFLOW_TERMINAL = [1, 3, 4, 5];
const WORKFLOW_FAILED = 3;
const OUTBOX_SERVICES = ['orders', 'payments', 'inventory'] as const;
const NOTIFYING_TYPES = [
  'agora.order.placed.v1',
  'agora.order.confirmed.v1',
  'agora.order.cancelled.v1',
  'agora.order.needs-attention.v1',
  'agora.payment.succeeded.v1',
  'agora.payment.failed.v1',
  'agora.payment.refunded.v1',
];
/**
 * Payment outcomes the saga's consumer must process: those that came after a 3-D Secure
 * confirmation. Its sidecar skips the charge's own answers (`skipWhen` in
 * subgraphs/orders/src/events/payment-subscriptions.ts), as the charge step told the saga.
 */
const SAGA_TYPES = ['agora.payment.succeeded.v1', 'agora.payment.failed.v1'];
const concernsSaga = (event: OutboxRow): boolean => SAGA_TYPES.includes(event.type) && event.awaited_confirmation !== false;
const TERMINAL_ORDER = ['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'];

interface Product {
  id: string;
  stock_on_hand: number;
  stock_reserved: number;
}

/** Ids present before the load, per table: what the invariants leave out. */
export interface Baseline {
  orders: string[];
  payments: string[];
  refunds: string[];
  charges: string[];
  reservations: string[];
  workflows: string[];
  notifications: string[];
  outbox: Record<(typeof OUTBOX_SERVICES)[number], string[]>;
  products: Product[];
}

const ids = async (db: Databases, service: Parameters<Databases['query']>[0], sql: string): Promise<string[]> => (await db.query<{ id: string }>(service, sql)).map((row) => row.id);

export async function captureBaseline(db: Databases): Promise<Baseline> {
  return {
    orders: await ids(db, 'orders', 'select id from orders'),
    payments: await ids(db, 'payments', 'select id from payments'),
    refunds: await ids(db, 'payments', 'select id from refunds'),
    charges: await ids(db, 'payments', 'select idempotency_key as id from simulated_provider_charges'),
    reservations: await ids(db, 'inventory', 'select id from reservations'),
    workflows: await ids(db, 'dapr', "select instance_id as id from dapr_workflow_instances where app_id = 'orders'"),
    notifications: await ids(db, 'users', 'select id from notifications'),
    outbox: {
      orders: await ids(db, 'orders', 'select id from outbox_events'),
      payments: await ids(db, 'payments', 'select id from outbox_events'),
      inventory: await ids(db, 'inventory', 'select id from outbox_events'),
    },
    products: await db.query<Product>('inventory', 'select id, stock_on_hand, stock_reserved from products'),
  };
}

interface OutboxRow {
  service: string;
  id: string;
  type: string;
  subject: string | null;
  sent: boolean;
  /** data.awaitedConfirmation of payment outcomes (null for other events and older producers). */
  awaited_confirmation: boolean | null;
}

interface Snapshot {
  orders: { id: string; status: string; total_amount: number; payment_method: string | null; status_reason: string | null }[];
  workflows: { instance_id: string; status: number }[];
  payments: { id: string; order_id: string; status: string; amount: number }[];
  refunds: { payment_id: string; order_id: string; amount: number }[];
  charges: { reference: string; status: string; amount: number | null }[];
  reservations: { order_id: string; product_id: string; quantity: number; status: string }[];
  products: Product[];
  outbox: OutboxRow[];
  notifications: { event_id: string; kind: string }[];
  processed: { consumer: string; event_id: string }[];
  backlog: GroupBacklog[];
}

async function snapshot(db: Databases, redis: Redis, base: Baseline): Promise<Snapshot> {
  const outbox: OutboxRow[] = [];
  for (const service of OUTBOX_SERVICES) {
    const rows = await db.query<Omit<OutboxRow, 'service'>>(service, "select id, type, subject, sent_at is not null as sent, (data->>'awaitedConfirmation')::boolean as awaited_confirmation from outbox_events where not (id = any($1::uuid[]))", [base.outbox[service]]);
    outbox.push(...rows.map((row) => ({ ...row, service })));
  }
  return {
    orders: await db.query('orders', 'select id, status, total_amount, payment_method, status_reason from orders where not (id = any($1::uuid[]))', [base.orders]),
    workflows: await db.query('dapr', "select instance_id, status from dapr_workflow_instances where app_id = 'orders' and not (instance_id = any($1::text[]))", [base.workflows]),
    payments: await db.query('payments', 'select id, order_id, status, amount from payments where not (id = any($1::uuid[]))', [base.payments]),
    refunds: await db.query('payments', 'select payment_id, order_id, amount from refunds where not (id = any($1::uuid[]))', [base.refunds]),
    charges: await db.query('payments', 'select reference, status, amount from simulated_provider_charges where not (idempotency_key = any($1::text[]))', [base.charges]),
    reservations: await db.query('inventory', 'select order_id, product_id, quantity, status from reservations where not (id = any($1::uuid[]))', [base.reservations]),
    products: await db.query('inventory', 'select id, stock_on_hand, stock_reserved from products'),
    outbox,
    notifications: await db.query('users', 'select event_id, kind from notifications where not (id = any($1::uuid[]))', [base.notifications]),
    processed: [
      ...(await db.query<{ consumer: string; event_id: string }>('users', 'select consumer, event_id from processed_events')),
      ...(await db.query<{ consumer: string; event_id: string }>('orders', 'select consumer, event_id from processed_events')),
    ],
    backlog: await streamBacklog(redis),
  };
}

export interface Settled {
  settled: boolean;
  ms: number;
  /** What was still open at the deadline. */
  waitingFor: string[];
}

/** What is still in flight: unfinished sagas, unsent outbox rows, undelivered stream entries, missing notifications. */
function inFlight(s: Snapshot): string[] {
  const waiting: string[] = [];
  const pending = s.orders.filter((order) => !TERMINAL_ORDER.includes(order.status)).length;
  if (pending > 0) waiting.push(`${pending} orders not terminal`);
  const running = s.workflows.filter((workflow) => !WORKFLOW_TERMINAL.includes(workflow.status)).length;
  if (running > 0) waiting.push(`${running} sagas running`);
  const unsent = s.outbox.filter((event) => !event.sent).length;
  if (unsent > 0) waiting.push(`${unsent} outbox events unsent`);
  const backlog = s.backlog.filter((group) => group.pending > 0 || (group.lag ?? 0) > 0);
  if (backlog.length > 0) waiting.push(`stream backlog ${backlog.map((group) => `${group.topic}/${group.group}: ${group.pending} pending, ${group.lag ?? '?'} lag`).join('; ')}`);
  const notifying = s.outbox.filter((event) => event.sent && NOTIFYING_TYPES.includes(event.type)).length;
  if (s.notifications.length < notifying) waiting.push(`${notifying - s.notifications.length} notifications missing`);
  return waiting;
}

/** Polls until nothing is in flight or the deadline passes (then the invariants say what is wrong). */
export async function settle(db: Databases, redis: Redis, base: Baseline, timeoutMs: number): Promise<Settled> {
  const started = Date.now();
  let waitingFor: string[];
  for (;;) {
    try {
      waitingFor = inFlight(await snapshot(db, redis, base));
      if (waitingFor.length === 0) return { settled: true, ms: Date.now() - started, waitingFor };
    } catch (error) {
      waitingFor = [`snapshot failed: ${error instanceof Error ? error.message : String(error)}`];
    }
    if (Date.now() - started > timeoutMs) return { settled: false, ms: Date.now() - started, waitingFor };
    await sleep(1_000);
  }
}

/**
 * How the scenario's orders ended: `<status> <payment method>: <reason>` → count, reasons without
 * ids. An order that was not confirmed gets its last failed step's own error in brackets: the
 * customer's reason says only that a service did not answer (ADR 0012).
 */
export async function orderOutcomes(db: Databases, base: Baseline): Promise<Record<string, number>> {
  const rows = await db.query<{ status: string; payment_method: string | null; status_reason: string | null; step_error: string | null }>(
    'orders',
    `select o.status, o.payment_method, o.status_reason,
       (select s.error from saga_steps s where s.order_id = o.id and s.status = 'FAILED' order by s.ended_at desc nulls last limit 1) as step_error
     from orders o where not (o.id = any($1::uuid[]))`,
    [base.orders],
  );
  const outcomes: Record<string, number> = {};
  for (const row of rows) {
    const failedStep = row.step_error && row.status !== 'CONFIRMED' ? ` [${row.step_error}]` : '';
    const reason = `${row.status_reason ?? ''}${failedStep}`.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').slice(0, 200);
    const key = `${row.status} ${row.payment_method ?? '?'}${reason ? `: ${reason}` : ''}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  return outcomes;
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const sameSet = (a: Iterable<string>, b: Iterable<string>) => {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
};
const diff = (a: Iterable<string>, b: Iterable<string>) => {
  const right = new Set(b);
  return [...new Set(a)].filter((item) => !right.has(item));
};
const sample = (items: string[]) => (items.length > 5 ? `${items.slice(0, 5).join(', ')} … (${items.length})` : items.join(', '));
const euros = (minor: number) => `€${(minor / 100).toFixed(2)}`;

function result(problems: string[], detail: string): InvariantResult {
  return { ok: problems.length === 0, detail, problems };
}

/** Evaluates every invariant; `placed` are the order ids the gateway acknowledged. */
export async function checkInvariants(db: Databases, redis: Redis, base: Baseline, placed: readonly string[]): Promise<InvariantResults> {
  const s = await snapshot(db, redis, base);
  const byStatus = (status: string) => s.orders.filter((order) => order.status === status);
  const confirmed = byStatus('CONFIRMED');
  const confirmedIds = new Set(confirmed.map((order) => order.id));
  const attention = new Set(byStatus('NEEDS_ATTENTION').map((order) => order.id));
  const totals = new Map(s.orders.map((order) => [order.id, order.total_amount]));

  // Every order terminal, every acknowledged placement an order, every saga finished (none failed).
  const terminal: string[] = [];
  const missing = diff(placed, s.orders.map((order) => order.id));
  if (missing.length > 0) terminal.push(`acknowledged but no order row: ${sample(missing)}`);
  const open = s.orders.filter((order) => !TERMINAL_ORDER.includes(order.status));
  if (open.length > 0) terminal.push(`orders not terminal: ${sample(open.map((order) => `${order.id} ${order.status}`))}`);
  const workflows = new Map(s.workflows.map((workflow) => [workflow.instance_id, workflow.status]));
  const unfinished = s.orders.filter((order) => !WORKFLOW_TERMINAL.includes(workflows.get(order.id) ?? -1));
  if (unfinished.length > 0) terminal.push(`sagas not finished: ${sample(unfinished.map((order) => `${order.id} status ${workflows.get(order.id) ?? 'missing'}`))}`);
  const failedSagas = s.workflows.filter((workflow) => workflow.status === WORKFLOW_FAILED);
  if (failedSagas.length > 0) terminal.push(`sagas FAILED: ${sample(failedSagas.map((workflow) => workflow.instance_id))}`);
  const terminalDetail = `${s.orders.length - open.length}/${s.orders.length} (${confirmed.length} conf, ${byStatus('CANCELLED').length} canc, ${attention.size} attn)`;

  // Stock: on hand fell by the committed quantities, reserved rose by what is still held, and
  // exactly the confirmed orders committed stock.
  const stock: string[] = [];
  const qty = (status: string, productId?: string) => sum(s.reservations.filter((row) => row.status === status && (productId === undefined || row.product_id === productId)).map((row) => row.quantity));
  for (const after of s.products) {
    const before = base.products.find((product) => product.id === after.id);
    if (!before) continue;
    const committed = qty('COMMITTED', after.id);
    const held = qty('RESERVED', after.id);
    if (before.stock_on_hand - after.stock_on_hand !== committed) stock.push(`${after.id}: on hand ${before.stock_on_hand} → ${after.stock_on_hand}, but ${committed} committed`);
    if (after.stock_reserved - before.stock_reserved !== held) stock.push(`${after.id}: reserved ${before.stock_reserved} → ${after.stock_reserved}, but ${held} held by reservations`);
    if (after.stock_on_hand < 0 || after.stock_reserved < 0 || after.stock_reserved > after.stock_on_hand) stock.push(`${after.id}: on hand ${after.stock_on_hand}, reserved ${after.stock_reserved}`);
  }
  const committedOrders = new Set(s.reservations.filter((row) => row.status === 'COMMITTED').map((row) => row.order_id));
  if (!sameSet(committedOrders, confirmedIds)) stock.push(`committed ≠ confirmed: committed only ${sample(diff(committedOrders, confirmedIds))}; confirmed only ${sample(diff(confirmedIds, committedOrders))}`);
  const heldBy = diff(s.reservations.filter((row) => row.status === 'RESERVED').map((row) => row.order_id), attention);
  if (heldBy.length > 0) stock.push(`reservations still held for finished orders: ${sample(heldBy)}`);
  const stockDetail = `${qty('COMMITTED')} committed, ${qty('RESERVED')} held, ${qty('RELEASED')} released`;

  // Captures: one per confirmed order, for its total; the provider moved money once per order.
  const captures: string[] = [];
  const captured = s.payments.filter((payment) => payment.status === 'CAPTURED');
  const capturedOrders = captured.map((payment) => payment.order_id);
  if (capturedOrders.length !== new Set(capturedOrders).size) captures.push('two captured payments for one order');
  if (!sameSet(capturedOrders, confirmedIds)) captures.push(`captured ≠ confirmed: captured only ${sample(diff(capturedOrders, confirmedIds))}; confirmed only ${sample(diff(confirmedIds, capturedOrders))}`);
  const wrongAmount = captured.filter((payment) => payment.amount !== totals.get(payment.order_id));
  if (wrongAmount.length > 0) captures.push(`captured amount ≠ order total: ${sample(wrongAmount.map((payment) => payment.order_id))}`);
  const moved = s.charges.filter((charge) => charge.status === 'succeeded' || charge.status === 'refunded');
  const movedTwice = Object.entries(Object.groupBy(moved, (charge) => charge.reference)).filter(([, group]) => (group?.length ?? 0) > 1);
  if (movedTwice.length > 0) captures.push(`provider charged twice: ${sample(movedTwice.map(([reference]) => reference))}`);
  const providerCaptured = moved.filter((charge) => charge.status === 'succeeded').map((charge) => charge.reference);
  if (!sameSet(providerCaptured, capturedOrders)) captures.push(`provider's captures ≠ ours: provider only ${sample(diff(providerCaptured, capturedOrders))}; ours only ${sample(diff(capturedOrders, providerCaptured))}`);
  const capturesDetail = `${captured.length} = ${confirmed.length}, ${euros(sum(captured.map((payment) => payment.amount)))} = ${euros(sum(confirmed.map((order) => order.total_amount)))}`;

  // Refunds: exactly the compensated captures, each for the captured amount, never a confirmed order.
  const refunds: string[] = [];
  const refundedPayments = s.payments.filter((payment) => payment.status === 'REFUNDED');
  if (!sameSet(s.refunds.map((refund) => refund.payment_id), refundedPayments.map((payment) => payment.id))) {
    refunds.push(`refund rows ≠ refunded payments: rows only ${sample(diff(s.refunds.map((r) => r.payment_id), refundedPayments.map((p) => p.id)))}; payments only ${sample(diff(refundedPayments.map((p) => p.id), s.refunds.map((r) => r.payment_id)))}`);
  }
  const paymentAmount = new Map(s.payments.map((payment) => [payment.id, payment.amount]));
  const wrongRefund = s.refunds.filter((refund) => refund.amount !== paymentAmount.get(refund.payment_id));
  if (wrongRefund.length > 0) refunds.push(`refund amount ≠ captured amount: ${sample(wrongRefund.map((refund) => refund.order_id))}`);
  const refundedConfirmed = s.refunds.filter((refund) => confirmedIds.has(refund.order_id));
  if (refundedConfirmed.length > 0) refunds.push(`confirmed orders refunded: ${sample(refundedConfirmed.map((refund) => refund.order_id))}`);
  const providerRefunded = moved.filter((charge) => charge.status === 'refunded').map((charge) => charge.reference);
  if (!sameSet(providerRefunded, refundedPayments.map((payment) => payment.order_id))) refunds.push(`provider's refunds ≠ ours: provider only ${sample(diff(providerRefunded, refundedPayments.map((p) => p.order_id)))}; ours only ${sample(diff(refundedPayments.map((p) => p.order_id), providerRefunded))}`);
  const refundsDetail = `${s.refunds.length} = ${refundedPayments.length}, ${euros(sum(s.refunds.map((refund) => refund.amount)))}`;

  // No event lost: the outboxes are empty, the streams delivered and acknowledged everything,
  // every notifying event reached the inbox and every payment outcome reached the saga consumer.
  const lost: string[] = [];
  const unsent = s.outbox.filter((event) => !event.sent);
  if (unsent.length > 0) lost.push(`unsent outbox events: ${sample(unsent.map((event) => `${event.service} ${event.type} ${event.id}`))}`);
  const backlog = s.backlog.filter((group) => group.pending > 0 || (group.lag ?? 0) > 0);
  if (backlog.length > 0) lost.push(`undelivered stream entries: ${backlog.map((group) => `${group.topic}/${group.group} ${group.pending} pending, ${group.lag ?? '?'} lag`).join('; ')}`);
  const notifying = s.outbox.filter((event) => NOTIFYING_TYPES.includes(event.type));
  const notified = new Map<string, number>();
  for (const notification of s.notifications) notified.set(notification.event_id, (notified.get(notification.event_id) ?? 0) + 1);
  const unnotified = notifying.filter((event) => !notified.has(event.id));
  if (unnotified.length > 0) lost.push(`events without a notification: ${sample(unnotified.map((event) => `${event.type} ${event.id}`))}`);
  const sagaProcessed = new Set(s.processed.filter((row) => row.consumer === 'orders.saga').map((row) => row.event_id));
  const sagaMissed = s.outbox.filter((event) => concernsSaga(event) && !sagaProcessed.has(event.id));
  if (sagaMissed.length > 0) lost.push(`payment outcomes the saga consumer never processed: ${sample(sagaMissed.map((event) => event.id))}`);
  const lostDetail = `${s.outbox.length - unsent.length}/${s.outbox.length} sent, ${notifying.length - unnotified.length}/${notifying.length} notified`;

  // Nothing applied twice: one notification per event, none without an event, one outcome event per order.
  const twice: string[] = [];
  const doubled = [...notified].filter(([, count]) => count > 1);
  if (doubled.length > 0) twice.push(`events notified more than once: ${sample(doubled.map(([id, count]) => `${id}×${count}`))}`);
  const eventIds = new Set(s.outbox.map((event) => event.id));
  const phantom = s.notifications.filter((notification) => !eventIds.has(notification.event_id));
  if (phantom.length > 0) twice.push(`notifications of no outbox event: ${sample(phantom.map((notification) => notification.event_id))}`);
  const perOrder = Object.entries(Object.groupBy(s.outbox.filter((event) => event.service === 'orders' && event.type !== 'agora.order.needs-attention.v1'), (event) => `${event.type} ${event.subject ?? ''}`)).filter(([, group]) => (group?.length ?? 0) > 1);
  if (perOrder.length > 0) twice.push(`order events emitted twice: ${sample(perOrder.map(([key]) => key))}`);
  // The event commits with the confirmation; an order escalated after it (commit-stock kept failing) keeps its event.
  const confirmedEvents = s.outbox.filter((event) => event.type === 'agora.order.confirmed.v1').map((event) => event.subject ?? '');
  const unannounced = diff(confirmedIds, confirmedEvents);
  const stray = confirmedEvents.filter((id) => !confirmedIds.has(id) && !attention.has(id));
  if (unannounced.length > 0 || stray.length > 0) twice.push(`order.confirmed events ≠ confirmed orders (${confirmedEvents.length} vs ${confirmedIds.size}): confirmed without one ${sample(unannounced)}; for orders never confirmed ${sample(stray)}`);
  const redeliveries = s.processed.length;
  const twiceDetail = `${s.notifications.length} notif. for ${notifying.length} events, ${redeliveries} processed`;

  return {
    terminal: result(terminal, terminalDetail),
    stock: result(stock, stockDetail),
    captures: result(captures, capturesDetail),
    refunds: result(refunds, refundsDetail),
    'events-lost': result(lost, lostDetail),
    'events-twice': result(twice, twiceDetail),
  };
}
