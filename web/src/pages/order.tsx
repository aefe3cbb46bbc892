import { useMutation, useQuery } from '@apollo/client/react';
import { useEffect } from 'react';
import { useParams } from 'react-router';
import { ErrorMessage } from '../components/error-message.tsx';
import { SagaTimeline } from '../components/saga-timeline.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { describePaymentMethod, formatMoney, formatTime } from '../format.ts';
import { CANCEL_ORDER, ORDER_PAGE, type Order } from '../operations.ts';

/** While the saga runs, the page asks for its steps this often. */
const SAGA_POLL_MS = 1_000;

export const sagaSettled = (order: Order): boolean => order.saga.status !== 'RUNNING' && order.saga.status !== 'COMPENSATING' && order.status !== 'PENDING';

export function OrderPage() {
  const { id = '' } = useParams();
  const { data, error, loading, startPolling, stopPolling } = useQuery(ORDER_PAGE, { variables: { id }, pollInterval: SAGA_POLL_MS });
  const [cancelOrder, cancelling] = useMutation(CANCEL_ORDER);
  const order = data?.order;
  const settled = order !== undefined && order !== null && sagaSettled(order);
  useEffect(() => {
    if (settled) stopPolling();
  }, [settled, stopPolling]);

  return (
    <main>
      <h1>Order {id.slice(0, 8)}</h1>
      <ErrorMessage error={error} />
      {loading && !order && <p className="loading">Loading the order…</p>}
      {order && (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd data-testid="order-status">
              <StatusBadge status={order.status} />
            </dd>
            {order.statusReason && (
              <>
                <dt>Why</dt>
                <dd>{order.statusReason}</dd>
              </>
            )}
            <dt>Placed</dt>
            <dd>{formatTime(order.createdAt)}</dd>
            <dt>Total</dt>
            <dd>{formatMoney(order.total)}</dd>
            {order.paymentMethod && (
              <>
                <dt>Payment method</dt>
                <dd>{describePaymentMethod(order.paymentMethod)}</dd>
              </>
            )}
            <dt>Payment</dt>
            <dd>{order.payment ? <StatusBadge status={order.payment.status} /> : 'none yet'}</dd>
          </dl>
          <table className="lines">
            <caption>Lines</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Quantity</th>
                <th scope="col">Unit price</th>
                <th scope="col">Line total</th>
              </tr>
            </thead>
            <tbody>
              {order.lines.map((line) => (
                <tr key={line.id}>
                  <th scope="row">{line.product.name}</th>
                  <td>{line.quantity}</td>
                  <td>{formatMoney(line.unitPrice)}</td>
                  <td>{formatMoney(line.lineTotal)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {order.status === 'PENDING' && (
            <button
              type="button"
              className="danger"
              disabled={cancelling.loading}
              onClick={() => {
                startPolling(SAGA_POLL_MS);
                void cancelOrder({ variables: { id: order.id } }).catch(() => undefined);
              }}
            >
              Cancel order
            </button>
          )}
          <ErrorMessage error={cancelling.error} />
          <SagaTimeline order={order} />
        </>
      )}
    </main>
  );
}
