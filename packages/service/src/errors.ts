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

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
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
  // Structural, not `instanceof GraphQLError`: graphql ships CJS and ESM builds, and the two classes differ.
  const original = (error as { originalError?: unknown } | undefined)?.originalError ?? error;
  if (original instanceof DomainError) {
    return {
      ...formatted,
      message: original.message,
      extensions: { ...withoutStack(formatted.extensions, exposeInternals), code: original.code, ...(original.details ? { details: original.details } : {}) },
    };
  }
  const code = formatted.extensions?.['code'];
  if (typeof code === 'string' && knownCodes.has(code)) {
    return { ...formatted, extensions: withoutStack(formatted.extensions, exposeInternals) };
  }
  if (exposeInternals) return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.INTERNAL_SERVER_ERROR } };
  return { message: 'Internal server error', ...(formatted.path ? { path: formatted.path } : {}), extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
}

function withoutStack(extensions: GraphQLFormattedError['extensions'], exposeInternals: boolean): Record<string, unknown> {
  if (!extensions || exposeInternals) return { ...extensions };
  const { stacktrace: _stacktrace, ...rest } = extensions;
  return rest;
}
