import { useQuery } from '@apollo/client/react';
import { Link, useSearchParams } from 'react-router';
import { ErrorMessage } from '../components/error-message.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { formatMoney, formatTime } from '../format.ts';
import { SAGAS, type SagaStatus } from '../operations.ts';

const PAGE_SIZE = 20;
const STATUSES: SagaStatus[] = ['RUNNING', 'COMPENSATING', 'NEEDS_ATTENTION', 'COMPLETED', 'COMPENSATED'];

/** Sagas newest first, by status, a page at a time; the page's cursors live in the address so Back works. */
export function AdminSagasPage() {
  const [params, setParams] = useSearchParams();
  const status = STATUSES.find((candidate) => candidate === params.get('status')) ?? null;
  const cursors = params.getAll('after');
  const after = cursors.at(-1) ?? null;
  const { data, error, loading } = useQuery(SAGAS, { variables: { status, first: PAGE_SIZE, after }, fetchPolicy: 'cache-and-network', pollInterval: 5_000 });
  const page = data?.sagas;

  const go = (next: { status?: SagaStatus | null; cursors: string[] }) => {
    const search = new URLSearchParams();
    const nextStatus = next.status === undefined ? status : next.status;
    if (nextStatus) search.set('status', nextStatus);
    for (const cursor of next.cursors) search.append('after', cursor);
    setParams(search);
  };

  return (
    <main>
      <h1>Sagas</h1>
      <div className="filters" role="group" aria-label="Filter by status">
        <button type="button" aria-pressed={status === null} onClick={() => go({ status: null, cursors: [] })}>
          All
        </button>
        {STATUSES.map((candidate) => (
          <button key={candidate} type="button" aria-pressed={status === candidate} onClick={() => go({ status: candidate, cursors: [] })}>
            {candidate.replaceAll('_', ' ').toLowerCase()}
          </button>
        ))}
      </div>
      <ErrorMessage error={error} />
      {loading && !page && <p className="loading">Loading sagas…</p>}
      {page?.nodes.length === 0 && <p>No saga{status ? ` is ${status.replaceAll('_', ' ').toLowerCase()}` : ' yet'}.</p>}
      {page && page.nodes.length > 0 && (
        <table className="lines">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Customer</th>
              <th scope="col">Placed</th>
              <th scope="col">Total</th>
              <th scope="col">Saga</th>
              <th scope="col">Step</th>
            </tr>
          </thead>
          <tbody>
            {page.nodes.map((saga) => (
              <tr key={saga.orderId} data-order-id={saga.orderId}>
                <th scope="row">
                  <Link to={`/admin/sagas/${saga.orderId}`}>{saga.orderId.slice(0, 8)}</Link>
                </th>
                <td>{saga.order.customer.username}</td>
                <td>{formatTime(saga.order.createdAt)}</td>
                <td>{formatMoney(saga.order.total)}</td>
                <td>
                  <StatusBadge status={saga.status} />
                </td>
                <td>{saga.currentStep ?? saga.steps.at(-1)?.name ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => go({ cursors: cursors.slice(0, -1) })}>
          Newer
        </button>
        <span>Page {cursors.length + 1}</span>
        <button type="button" disabled={!page?.hasNextPage || !page.endCursor} onClick={() => page?.endCursor && go({ cursors: [...cursors, page.endCursor] })}>
          Older
        </button>
      </nav>
    </main>
  );
}
