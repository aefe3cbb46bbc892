import { useMutation, useQuery } from '@apollo/client/react';
import { Link } from 'react-router';
import { ErrorMessage } from '../components/error-message.tsx';
import { formatTime } from '../format.ts';
import { MARK_NOTIFICATION_READ, NOTIFICATIONS } from '../operations.ts';

export function NotificationsPage() {
  const { data, error, loading, fetchMore } = useQuery(NOTIFICATIONS, { variables: { first: 20 }, fetchPolicy: 'cache-and-network', pollInterval: 5_000 });
  const [markRead, marking] = useMutation(MARK_NOTIFICATION_READ);
  const inbox = data?.me.notifications;
  return (
    <main>
      <h1>Notifications</h1>
      <ErrorMessage error={error ?? marking.error} />
      {loading && !inbox && <p className="loading">Loading your notifications…</p>}
      {inbox && (
        <p aria-live="polite">
          {inbox.unreadCount} unread of {inbox.totalCount}
        </p>
      )}
      {inbox?.totalCount === 0 && <p>Nothing yet: what happens to your orders and payments shows up here.</p>}
      <ul className="inbox">
        {inbox?.nodes.map((notification) => (
          <li key={notification.id} className={notification.readAt ? 'read' : 'unread'} data-kind={notification.kind}>
            <h2>{notification.title}</h2>
            <p>{notification.body}</p>
            <p className="meta">
              {formatTime(notification.createdAt)}
              {notification.orderId && (
                <>
                  {' · '}
                  <Link to={`/orders/${notification.orderId}`}>see the order</Link>
                </>
              )}
            </p>
            {!notification.readAt && (
              <button type="button" className="link" onClick={() => void markRead({ variables: { id: notification.id } }).catch(() => undefined)}>
                Mark “{notification.title}” as read
              </button>
            )}
          </li>
        ))}
      </ul>
      {inbox?.hasNextPage && (
        <button
          type="button"
          onClick={() =>
            void fetchMore({
              variables: { after: inbox.endCursor },
              updateQuery: (previous, { fetchMoreResult }) => ({
                me: { ...previous.me, notifications: { ...fetchMoreResult.me.notifications, nodes: [...previous.me.notifications.nodes, ...fetchMoreResult.me.notifications.nodes] } },
              }),
            })
          }
        >
          Show older
        </button>
      )}
    </main>
  );
}
