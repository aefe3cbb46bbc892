import { skipToken, useQuery } from '@apollo/client/react';
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { BrowserRouter, Link, NavLink, Route, Routes, useNavigate } from 'react-router';
import { useSession } from './auth.tsx';
import { useConfig } from './config-context.tsx';
import { MY_CART, NOTIFICATIONS } from './operations.ts';
import { AdminHealthPage } from './pages/admin-health.tsx';
import { AdminProductsPage } from './pages/admin-products.tsx';
import { AdminSagaPage } from './pages/admin-saga.tsx';
import { AdminSagasPage } from './pages/admin-sagas.tsx';
import { CartPage } from './pages/cart.tsx';
import { CatalogPage } from './pages/catalog.tsx';
import { NotificationsPage } from './pages/notifications.tsx';
import { OrderPage } from './pages/order.tsx';
import { OrdersPage } from './pages/orders.tsx';

const BASE = import.meta.env.BASE_URL.replace(/\/$/, '');

export function App() {
  return (
    <BrowserRouter basename={BASE}>
      <a className="skip" href="#content">
        Skip to content
      </a>
      <Header />
      <SessionExpiredBanner />
      <div id="content">
        <Routes>
          <Route path="/" element={<CatalogPage />} />
          <Route path="/callback" element={<SignInCallback />} />
          <Route path="/cart" element={<SignedIn>{<CartPage />}</SignedIn>} />
          <Route path="/orders" element={<SignedIn>{<OrdersPage />}</SignedIn>} />
          <Route path="/orders/:id" element={<SignedIn>{<OrderPage />}</SignedIn>} />
          <Route path="/notifications" element={<SignedIn>{<NotificationsPage />}</SignedIn>} />
          <Route path="/admin/sagas" element={<Admin>{<AdminSagasPage />}</Admin>} />
          <Route path="/admin/sagas/:orderId" element={<Admin>{<AdminSagaPage />}</Admin>} />
          <Route path="/admin/health" element={<Admin>{<AdminHealthPage />}</Admin>} />
          <Route path="/admin/products" element={<Admin>{<AdminProductsPage />}</Admin>} />
          <Route
            path="*"
            element={
              <main>
                <h1>Page not found</h1>
                <Link to="/">Back to the catalog</Link>
              </main>
            }
          />
        </Routes>
      </div>
    </BrowserRouter>
  );
}

function Header() {
  const session = useSession();
  const cart = useQuery(MY_CART, session.user ? {} : skipToken);
  const inbox = useQuery(NOTIFICATIONS, session.user ? { variables: { first: 1 }, pollInterval: 10_000 } : skipToken);
  const items = cart.data?.me.cart.itemCount ?? 0;
  const unread = inbox.data?.me.notifications.unreadCount ?? 0;
  return (
    <header className="top">
      <Link to="/" className="brand">
        Agora
      </Link>
      <nav aria-label="Main">
        <NavLink to="/" end>
          Catalog
        </NavLink>
        {session.user && (
          <>
            <NavLink to="/cart">Cart{items > 0 && <span className="count"> ({items})</span>}</NavLink>
            <NavLink to="/orders">Orders</NavLink>
            <NavLink to="/notifications">Notifications{unread > 0 && <span className="count"> ({unread} unread)</span>}</NavLink>
          </>
        )}
        {session.isAdmin && (
          <>
            <NavLink to="/admin/sagas">Sagas</NavLink>
            <NavLink to="/admin/products">Stock</NavLink>
            <NavLink to="/admin/health">Health</NavLink>
          </>
        )}
      </nav>
      <div className="account">
        {session.user ? (
          <>
            <span>Signed in as {session.username}</span>
            <button type="button" onClick={() => void session.signOut()}>
              Sign out
            </button>
          </>
        ) : (
          <button type="button" onClick={() => void session.signIn()}>
            Sign in
          </button>
        )}
      </div>
    </header>
  );
}

function SessionExpiredBanner() {
  const session = useSession();
  if (!session.expired) return null;
  return (
    <div className="error banner" role="alert" data-code="UNAUTHENTICATED">
      <span>Your session has expired. Sign in again to continue.</span>
      <button type="button" onClick={() => void session.signIn()}>
        Sign in again
      </button>
    </div>
  );
}

function SignedIn({ children }: { children: ReactNode }) {
  const session = useSession();
  if (session.user) return children;
  return (
    <main>
      <h1>Sign in to continue</h1>
      <p>This page shows your own cart, orders and notifications.</p>
      <button type="button" onClick={() => void session.signIn()}>
        Sign in
      </button>
    </main>
  );
}

function Admin({ children }: { children: ReactNode }) {
  const session = useSession();
  if (!session.user) return <SignedIn>{children}</SignedIn>;
  if (session.isAdmin) return children;
  return (
    <main>
      <h1>Operators only</h1>
      <p role="alert">The operations console needs the admin role; you are signed in as {session.username}.</p>
    </main>
  );
}

/** Where the identity provider sends the browser back: trades the code (PKCE) for tokens. */
function SignInCallback() {
  const { manager } = useConfig();
  const navigate = useNavigate();
  const [error, setError] = useState<string>();
  const handled = useRef(false);
  useEffect(() => {
    if (handled.current) return;
    handled.current = true;
    manager
      .signinRedirectCallback()
      .then(async (user) => {
        const returnTo = typeof user.state === 'string' && user.state.startsWith(BASE) ? user.state.slice(BASE.length) || '/' : '/';
        await navigate(returnTo === '/callback' ? '/' : returnTo, { replace: true });
      })
      .catch((failure: unknown) => setError(failure instanceof Error ? failure.message : String(failure)));
  }, [manager, navigate]);
  return (
    <main>
      {error ? (
        <div className="error" role="alert">
          <span>Signing in failed: {error}</span>
          <Link to="/">Back to the catalog</Link>
        </div>
      ) : (
        <p className="loading">Signing you in…</p>
      )}
    </main>
  );
}
