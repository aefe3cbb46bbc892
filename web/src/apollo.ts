import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { ErrorCode } from '@agora/service/errors';
import type { UserManager } from 'oidc-client-ts';
import { SESSION_EXPIRED, sessionEvents } from './auth.tsx';
import type { WebConfig } from './config.ts';
import { errorCodeOf } from './errors.ts';

/** The gateway's GraphQL client: the signed-in user's access token on every request, anonymous otherwise. */
export function createApolloClient(config: WebConfig, manager: UserManager): ApolloClient {
  const authorization = new SetContextLink(async (previous) => {
    const user = await manager.getUser();
    if (!user || user.expired) return {};
    return { headers: { ...(previous.headers as Record<string, string> | undefined), authorization: `Bearer ${user.access_token}` } };
  });
  // The refusal names the authorization it refused: one sent before a new sign-in says nothing of the new session.
  const expiry = new ErrorLink(({ error, operation }) => {
    if (errorCodeOf(error).code !== ErrorCode.UNAUTHENTICATED) return;
    const sent = (operation.getContext()['headers'] as Record<string, string> | undefined)?.['authorization'];
    sessionEvents.dispatchEvent(new CustomEvent<string | undefined>(SESSION_EXPIRED, { detail: sent }));
  });
  return new ApolloClient({
    link: ApolloLink.from([expiry, authorization, new HttpLink({ uri: config.graphqlPath })]),
    cache: new InMemoryCache({
      typePolicies: {
        Saga: { keyFields: ['orderId'] },
        // A cart has no id of its own: it is the signed-in user's.
        User: { fields: { cart: { merge: true } } },
      },
    }),
    // Pages poll (stock, orders, sagas, the inbox); a tab in the background asks nothing until shown again.
    defaultOptions: { watchQuery: { skipPollAttempt: () => document.hidden } },
  });
}
