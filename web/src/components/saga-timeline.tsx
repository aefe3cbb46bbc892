import { formatTime } from '../format.ts';
import type { Order } from '../operations.ts';
import { StatusBadge } from './status-badge.tsx';

// The step names of subgraphs/orders/src/saga/order-saga.ts, in words.
const stepNames: Record<string, string> = {
  'reserve-stock': 'Reserve stock',
  'charge-payment': 'Charge payment',
  'confirm-order': 'Confirm order',
  'commit-stock': 'Commit stock',
  // Sagas started before 2026-12-07 had a step of their own for the confirmation notice.
  notify: 'Notify customer',
  'cancel-payment': 'Refund or cancel payment',
  'release-stock': 'Release stock',
  'cancel-order': 'Cancel order',
  escalate: 'Escalate to an operator',
};

/** "reserve-stock:<product id>" → the step and what it was about (a product's name where known). */
function describeStep(name: string, productNames: ReadonlyMap<string, string>): { step: string; label: string } {
  const [step = name, subject] = name.split(':', 2);
  const title = stepNames[step] ?? step;
  return { step, label: subject ? `${title}: ${productNames.get(subject) ?? subject}` : title };
}

/** The saga's steps in the order they ran, compensations marked, with attempts and errors. */
export function SagaTimeline({ order }: { order: Pick<Order, 'saga' | 'lines'> }) {
  const { saga } = order;
  const productNames = new Map(order.lines.map((line) => [line.product.id, line.product.name]));
  return (
    <section aria-labelledby="saga-heading">
      <h2 id="saga-heading">
        Order saga <StatusBadge status={saga.status} />
      </h2>
      {saga.steps.length === 0 ? (
        <p>No step has run yet.</p>
      ) : (
        <ol className="timeline" aria-live="polite">
          {saga.steps.map((step) => {
            const described = describeStep(step.name, productNames);
            return (
              <li key={`${step.name}-${step.startedAt}`} className={step.compensation ? 'compensation' : undefined} data-step={described.step} data-status={step.status}>
                <div className="step-head">
                  <strong>{described.label}</strong>
                  {step.compensation && <span className="tag">compensation</span>}
                  <StatusBadge status={step.status} />
                </div>
                <div className="step-meta">
                  {step.attempts} attempt{step.attempts === 1 ? '' : 's'} · started {formatTime(step.startedAt)}
                  {step.endedAt && ` · ended ${formatTime(step.endedAt)}`}
                </div>
                {step.error && <div className="step-error">{step.error}</div>}
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
