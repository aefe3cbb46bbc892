import { jwtDecode } from 'jwt-decode';
import { UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { WebConfig } from './config.ts';

export interface Session {
  /** The signed-in user, or null for an anonymous visitor. */
  user: User | null;
  username: string | undefined;
  /** Realm roles from the access token, for what the page shows; the API decides what is allowed. */
  roles: readonly string[];
  isAdmin: boolean;
  /** The API refused the token (expired, or the provider forgot the session). */
  expired: boolean;
  signIn(returnTo?: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function createUserManager(config: WebConfig): UserManager {
  const base = `${window.location.origin}${import.meta.env.BASE_URL}`;
  return new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${base}callback`,
    post_logout_redirect_uri: base,
    response_type: 'code',
    scope: 'openid profile email',
    // Refreshes the access token before it expires (5 minutes in the dev realm) with the refresh token.
    automaticSilentRenew: true,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
}

function rolesOf(user: User | null): string[] {
  if (!user) return [];
  try {
    return jwtDecode<{ realm_access?: { roles?: string[] } }>(user.access_token).realm_access?.roles ?? [];
  } catch {
    return [];
  }
}

/** Signals from the GraphQL client that the API refused the token (detail: the Authorization header it refused). */
export const sessionEvents = new EventTarget();
export const SESSION_EXPIRED = 'session-expired';

export function SessionProvider({ manager, children }: { manager: UserManager; children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [expired, setExpired] = useState(false);

  useEffect(() => {
    const loadedUser = (next: User) => {
      setUser(next);
      setExpired(false);
    };
    const unloaded = () => setUser(null);
    const renewFailed = () => setExpired(true);
    const apiRefused = (event: Event) => {
      const refused = (event as CustomEvent<string | undefined>).detail;
      // A request sent with the token a new sign-in just replaced can be refused after it: not this session's end.
      void manager.getUser().then((current) => {
        if (refused === undefined || current === null || refused === `Bearer ${current.access_token}`) setExpired(true);
      });
    };
    manager.events.addUserLoaded(loadedUser);
    manager.events.addUserUnloaded(unloaded);
    manager.events.addSilentRenewError(renewFailed);
    manager.events.addAccessTokenExpired(renewFailed);
    sessionEvents.addEventListener(SESSION_EXPIRED, apiRefused);
    // A tab opened again after its access token expired: the refresh token (valid while the
    // provider's session is) gets a new one before the page says the session is over.
    const restore = async () => {
      const stored = await manager.getUser();
      if (!stored?.expired) return stored;
      if (!stored.refresh_token) throw new Error('no refresh token');
      return manager.signinSilent();
    };
    void restore()
      .then((restored) => setUser(restored))
      .catch(() => setExpired(true))
      .finally(() => setLoaded(true));
    return () => {
      manager.events.removeUserLoaded(loadedUser);
      manager.events.removeUserUnloaded(unloaded);
      manager.events.removeSilentRenewError(renewFailed);
      manager.events.removeAccessTokenExpired(renewFailed);
      sessionEvents.removeEventListener(SESSION_EXPIRED, apiRefused);
    };
  }, [manager]);

  const session = useMemo<Session>(() => {
    const roles = rolesOf(user);
    return {
      user,
      username: user?.profile.preferred_username,
      roles,
      isAdmin: roles.includes('admin'),
      expired,
      signIn: (returnTo) => manager.signinRedirect({ state: returnTo ?? window.location.pathname + window.location.search }),
      signOut: async () => {
        // Without an ID token the provider cannot end its session; forget ours at least.
        if (user?.id_token) await manager.signoutRedirect({ id_token_hint: user.id_token });
        else await manager.removeUser();
      },
    };
  }, [user, expired, manager]);

  return loaded ? <SessionContext value={session}>{children}</SessionContext> : <p className="loading">Loading…</p>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
