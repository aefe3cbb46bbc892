import { createTRPCClient, httpLink, TRPCClientError, type TRPCClient, type TRPCLink } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { createClientCredentialsTokenSource } from '@agora/auth';
import type { InternalErrorData } from '@agora/internal-api';
import type { TestIssuer } from './identity.ts';

// Calling a participant's internal tRPC API in tests, straight at its /trpc (no sidecar).

/** The realm's service client: its service account holds `admin`, as the saga's calls do (docs/adr/0007). */
export const serviceClient = { clientId: 'agora-service', clientSecret: 'agora-service-dev-secret' } as const;

export const serviceTokenOf = (issuer: TestIssuer) => createClientCredentialsTokenSource({ issuer: issuer.issuer, ...serviceClient });

/** A typed client of the subgraph at `graphqlUrl`'s /trpc, sending `token` when it gives one. */
export function internalApiClient<TRouter extends AnyTRPCRouter>(graphqlUrl: string, token: () => Promise<string | undefined>): TRPCClient<TRouter> {
  // Built for any router (JSON, no transformer), as in @agora/internal-api's client.
  const link: TRPCLink<AnyTRPCRouter> = httpLink({
    url: new URL('/trpc', graphqlUrl).href,
    headers: async (): Promise<Record<string, string>> => {
      const value = await token();
      return value ? { authorization: `Bearer ${value}` } : {};
    },
  });
  return createTRPCClient<TRouter>({ links: [link as TRPCLink<TRouter>] });
}

export type InternalClientError = Omit<TRPCClientError<AnyTRPCRouter>, 'data'> & { data: InternalErrorData & { code: string; httpStatus: number } };

/** The tRPC error a call fails with; fails the test when the call succeeds. */
export async function failureOf(call: Promise<unknown>): Promise<InternalClientError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as InternalClientError;
    throw error;
  }
  throw new Error('expected the call to fail');
}
