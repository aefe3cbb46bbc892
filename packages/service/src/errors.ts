import type { GraphQLFormattedError } from 'graphql';

/** Every error code a client can see, in `extensions.code` and as tRPC error data. */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  PAYMENT_DECLINED: 'PAYMENT_DECLINED',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * A service the request needs did not answer. From a service, nothing was changed and the same
   * request may be sent again; from the gateway, for a mutation, the change may or may not have
   * been made (the subgraph's answer was lost), which its message says.
   */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An expected failure of a use case; its code and message are safe to show to clients. */
export class DomainError extends Error {
  override name = 'DomainError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  /** `cause`: what went wrong underneath, for logs; clients see only the code, message and details. */
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = details;
  }
}

export const notFound = (what: string, id: string): DomainError =>
  new DomainError(ErrorCode.NOT_FOUND, `${what} ${id} was not found`, { id });

export const forbidden = (message = 'You are not allowed to do this'): DomainError =>
  new DomainError(ErrorCode.FORBIDDEN, message);

export const unauthenticated = (message = 'Sign in to do this'): DomainError =>
  new DomainError(ErrorCode.UNAUTHENTICATED, message);

export const badInput = (message: string, details?: Record<string, unknown>): DomainError =>
  new DomainError(ErrorCode.BAD_USER_INPUT, message, details);

const knownCodes = new Set<string>([...Object.values(ErrorCode), 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE', 'BAD_REQUEST', 'DOWNSTREAM_SERVICE_ERROR']);

/**
 * Maps any error raised while executing an operation to its client form, once, at the edge:
 * domain errors keep their code and message; anything unexpected becomes
 * INTERNAL_SERVER_ERROR with a generic message outside development.
 */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown, exposeInternals: boolean): GraphQLFormattedError {
  const original = originalOf(error);
  if (original instanceof DomainError) {
    return {
      ...formatted,
      message: original.message,
      extensions: { ...withoutStack(formatted.extensions, exposeInternals), code: original.code, ...(original.details ? { details: original.details } : {}) },
    };
  }
  if (isClientCode(formatted.extensions?.['code'])) {
    // Apollo words a refusal from the context function (a bad token) "Context creation failed: …"; the client needs only the reason.
    return { ...formatted, message: formatted.message.replace(/^Context creation failed: /, ''), extensions: withoutStack(formatted.extensions, exposeInternals) };
  }
  const path = formatted.path ? { path: formatted.path } : {};
  const code = isUnavailable(original) ? ErrorCode.SERVICE_UNAVAILABLE : ErrorCode.INTERNAL_SERVER_ERROR;
  if (exposeInternals) {
    const message = code === ErrorCode.SERVICE_UNAVAILABLE ? `${UNAVAILABLE_MESSAGE} (${formatted.message})` : formatted.message;
    return { ...formatted, message, extensions: { ...formatted.extensions, code } };
  }
  return { message: code === ErrorCode.SERVICE_UNAVAILABLE ? UNAVAILABLE_MESSAGE : 'Internal server error', ...path, extensions: { code } };
}

function withoutStack(extensions: GraphQLFormattedError['extensions'], exposeInternals: boolean): Record<string, unknown> {
  if (!extensions || exposeInternals) return { ...extensions };
  const { stacktrace: _stacktrace, ...rest } = extensions;
  return rest;
}

/** The error a resolver threw, under the GraphQLError that wraps it. */
export function originalOf(error: unknown): unknown {
  // Structural, not `instanceof GraphQLError`: graphql ships CJS and ESM builds, and the two classes differ.
  return (error as { originalError?: unknown } | undefined)?.originalError ?? error;
}

/**
 * Whether an error with this code is one clients are meant to see as it is (a refused query, a
 * subgraph's answer relayed by the gateway). Not INTERNAL_SERVER_ERROR, which Apollo gives every
 * error that has no code of its own: its message is not for clients.
 */
export const isClientCode = (code: unknown): boolean => typeof code === 'string' && code !== ErrorCode.INTERNAL_SERVER_ERROR && knownCodes.has(code);

const UNAVAILABLE_MESSAGE = 'A service this request needs is not answering; try again shortly';

/** Node's codes for a connection that could not be made or was lost. */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
/** PostgreSQL's: shutting down or starting up (57P01-57P03), too many connections (53300); class 08 is a connection exception. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** gRPC's UNAVAILABLE (the workflow API's sidecar is not there). */
const GRPC_UNAVAILABLE = 14;

/**
 * Whether an error (or one of its causes) is a transient failure of something the service
 * depends on rather than a fault of its own: its database restarting or refusing connections, a
 * connection to it or to the sidecar refused or lost. Driver exceptions (MikroORM's) carry the
 * driver's `code`. Clients get SERVICE_UNAVAILABLE for these instead of INTERNAL_SERVER_ERROR.
 */
export function isUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code: unknown = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (code === GRPC_UNAVAILABLE && 'details' in current) return true;
    // node-postgres's error for a pooled connection the server closed (after a restart): it has no code.
    if (current.message === 'Connection terminated unexpectedly') return true;
  }
  return false;
}
