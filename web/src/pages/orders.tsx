import { useQuery } from '@apollo/client/react';
import { Link } from 'react-router';
import { ErrorMessage } from '../components/error-message.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { formatMoney, formatTime } from '../format.ts';
import { MY_ORDERS } from '../operations.ts';

const PAGE_SIZE = 20;

export function OrdersPage() {
  const { data, error, loading, fetchMore } = useQuery(MY_ORDERS, { variables: { first: PAGE_SIZE }, fetchPolicy: 'cache-and-network', pollInterval: 5_000 });
  const orders = data?.me.orders;
  const last = orders?.at(-1);
  return (
    <main>
      <h1>Your orders</h1>
      <ErrorMessage error={error} />
      {loading && !orders && <p className="loading">Loading your orders…</p>}
      {orders?.length === 0 && (
        <p>
          No orders yet. <Link to="/">Browse the catalog</Link>.
        </p>
      )}
      {orders && orders.length > 0 && (
        <table className="lines">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Placed</th>
              <th scope="col">Total</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {orders.map((order) => (
              <tr key={order.id} data-order-id={order.id}>
                <th scope="row">
                  <Link to={`/orders/${order.id}`}>{order.id.slice(0, 8)}</Link>
                </th>
                <td>{formatTime(order.createdAt)}</td>
                <td>{formatMoney(order.total)}</td>
                <td>
                  <StatusBadge status={order.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {orders && orders.length % PAGE_SIZE === 0 && last && (
        <button
          type="button"
          onClick={() =>
            void fetchMore({ variables: { after: last.id }, updateQuery: (previous, { fetchMoreResult }) => ({ me: { ...previous.me, orders: [...previous.me.orders, ...fetchMoreResult.me.orders] } }) })
          }
        >
          Show older orders
        </button>
      )}
    </main>
  );
}
