import { useMutation, useQuery } from '@apollo/client/react';
import { Link, useParams } from 'react-router';
import { ErrorMessage } from '../components/error-message.tsx';
import { SagaTimeline } from '../components/saga-timeline.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { formatMoney } from '../format.ts';
import { COMPENSATE_SAGA, ORDER_PAGE, RETRY_SAGA } from '../operations.ts';

/** One saga's timeline with the operator's two levers: run it again, or stop it and compensate. */
export function AdminSagaPage() {
  const { orderId = '' } = useParams();
  const { data, error, loading, refetch } = useQuery(ORDER_PAGE, { variables: { id: orderId }, pollInterval: 1_000 });
  const [retry, retrying] = useMutation(RETRY_SAGA);
  const [compensate, compensating] = useMutation(COMPENSATE_SAGA);
  const order = data?.order;
  const saga = order?.saga;
  const running = saga?.status === 'RUNNING' || saga?.status === 'COMPENSATING';
  const act = async (action: (options: { variables: { orderId: string } }) => Promise<unknown>) => {
    await action({ variables: { orderId } }).catch(() => undefined);
    await refetch();
  };

  return (
    <main>
      <p>
        <Link to="/admin/sagas">All sagas</Link>
      </p>
      <h1>Saga of order {orderId.slice(0, 8)}</h1>
      <ErrorMessage error={error} />
      {loading && !order && <p className="loading">Loading the saga…</p>}
      {order && saga && (
        <>
          <dl className="facts">
            <dt>Order</dt>
            <dd data-testid="order-status">
              <StatusBadge status={order.status} />
              {order.statusReason && ` ${order.statusReason}`}
            </dd>
            <dt>Total</dt>
            <dd>{formatMoney(order.total)}</dd>
            <dt>Workflow</dt>
            <dd>{saga.runtimeStatus ?? 'no longer kept by the workflow engine'}</dd>
            <dt>Current step</dt>
            <dd>{saga.currentStep ?? '—'}</dd>
          </dl>
          <div className="actions">
            <button type="button" disabled={running || retrying.loading} onClick={() => void act(retry)}>
              Retry saga
            </button>
            <button type="button" className="danger" disabled={!running || compensating.loading} onClick={() => void act(compensate)}>
              Compensate saga
            </button>
          </div>
          <ErrorMessage error={retrying.error ?? compensating.error} />
          <SagaTimeline order={order} />
        </>
      )}
    </main>
  );
}
