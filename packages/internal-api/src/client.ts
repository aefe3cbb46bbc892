import { createTRPCClient, httpLink, TRPCClientError, type TRPCClient, type TRPCLink } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { bulkhead } from 'cockatiel';
import { DomainError, ErrorCode } from '@agora/service';
import type { InternalErrorData } from './server.ts';

/** Where calls go: through this app's sidecar to the participant's app id (Dapr service invocation), or straight to a tRPC endpoint. */
export type InternalTarget =
  | {
      /** The participant's Dapr app id. */
      appId: string;
      /** This app's sidecar (DAPR_HTTP_PORT); calls go through Dapr service invocation. */
      daprHttpPort: number | string;
      daprHost?: string;
    }
  | {
      /** A tRPC endpoint itself, bypassing Dapr: the Pact mock server in contract tests (packages/contracts). */
      url: string;
    };

export type InternalClientOptions = InternalTarget & {
  /** A service access token (client credentials of agora-service). */
  token: () => Promise<string>;
  /** Extra headers per call, e.g. the trace context. */
  headers?: () => Record<string, string>;
  /**
   * Bulkhead: calls in flight to this participant at most; more wait in a queue of
   * `maxQueuedCalls`, and one beyond that fails at once (a transport error, so callers retry it
   * later), so a slow participant cannot hold every worker slot of its callers. Unbounded when not given.
   */
  maxConcurrentCalls?: number;
  /** Calls that may wait for a free slot of `maxConcurrentCalls` (default 0: none wait). */
  maxQueuedCalls?: number;
};

/** A typed tRPC client of another service's router, over the Dapr invocation URL of its app id. */
export function createInternalClient<TRouter extends AnyTRPCRouter>(options: InternalClientOptions): TRPCClient<TRouter> {
  const url = 'url' in options ? options.url : `http://${options.daprHost ?? '127.0.0.1'}:${options.daprHttpPort}/v1.0/invoke/${options.appId}/method/trpc`;
  // Built for any router (no transformer: JSON), since TypeScript cannot resolve a generic router's transformer options.
  const limit = options.maxConcurrentCalls === undefined ? undefined : bulkhead(options.maxConcurrentCalls, options.maxQueuedCalls ?? 0);
  const link: TRPCLink<AnyTRPCRouter> = httpLink({
    url,
    ...(limit ? { fetch: (input: string | URL | Request, init?: RequestInit) => limit.execute(() => fetch(input, init)) } : {}),
    headers: async () => ({ ...options.headers?.(), authorization: `Bearer ${await options.token()}` }),
  });
  return createTRPCClient<TRouter>({ links: [link as TRPCLink<TRouter>] });
}

/** The domain code of a participant's deliberate failure (OUT_OF_STOCK, PAYMENT_DECLINED, …); undefined for transport or server errors. */
export function domainCodeOf(error: unknown): ErrorCode | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  const data = error.data as Partial<InternalErrorData> | undefined;
  return data?.domainCode ?? undefined;
}

/**
 * What went wrong, for logs and saga steps. A sidecar that could not reach the participant answers
 * with Dapr's error shape, not tRPC's, which the client reports only as "Unable to transform
 * response from server": this names Dapr's error code, message and HTTP status instead.
 */
export function failureMessageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (!(error instanceof TRPCClientError)) return error.message;
  const meta = error.meta as { response?: { status?: number }; responseJSON?: unknown } | undefined;
  const body = meta?.responseJSON as { errorCode?: unknown; message?: unknown } | undefined;
  if (typeof body?.errorCode !== 'string') return error.message;
  const status = meta?.response?.status === undefined ? '' : ` (HTTP ${meta.response.status})`;
  return `${body.errorCode}${status}: ${typeof body.message === 'string' ? body.message : error.message}`;
}

/**
 * A participant's failure as the caller's answer: its deliberate (domain) failure as the caller
 * maps it, anything else (no answer, a sidecar or server error) SERVICE_UNAVAILABLE naming the
 * participant, with what went wrong kept as the cause for logs rather than shown to clients.
 */
export function participantFailure(participant: string, error: unknown, domain: Partial<Record<ErrorCode, (message: string) => Error>> = {}): Error {
  const code = domainCodeOf(error);
  const mapped = code === undefined ? undefined : domain[code];
  if (mapped) return mapped(error instanceof Error ? error.message : String(error));
  if (code !== undefined) return error instanceof Error ? error : new Error(String(error));
  return Object.assign(new DomainError(ErrorCode.SERVICE_UNAVAILABLE, `${participant} is not answering; nothing was changed, try again shortly`, { service: participant }), {
    cause: failureMessageOf(error),
  });
}
