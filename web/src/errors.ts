import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';
import { ErrorCode } from '@agora/service/errors';

/** Codes the app tells apart beyond the API's own (ErrorCode): failures before an answer arrives. */
export type ClientErrorCode = ErrorCode | 'NETWORK_ERROR' | 'SERVER_ERROR';

export interface ExplainedError {
  code: ClientErrorCode;
  message: string;
}

const codes: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && codes.has(code);

/** The first error's code and message in a GraphQL error body (the gateway answers refusals with one too). */
function fromBody(body: string): { code?: ErrorCode; message?: string } {
  try {
    const parsed = JSON.parse(body) as { errors?: { message?: string; extensions?: { code?: unknown } }[] };
    const first = parsed.errors?.[0];
    return { code: isErrorCode(first?.extensions?.code) ? first.extensions.code : undefined, message: first?.message };
  } catch {
    return {};
  }
}

const statusCodes: Record<number, ErrorCode> = { 401: ErrorCode.UNAUTHENTICATED, 403: ErrorCode.FORBIDDEN, 413: ErrorCode.PAYLOAD_TOO_LARGE, 429: ErrorCode.RATE_LIMITED };

export function errorCodeOf(error: unknown): { code: ClientErrorCode; serverMessage?: string } {
  if (CombinedGraphQLErrors.is(error)) {
    const first = error.errors[0];
    const code = first?.extensions?.['code'];
    return { code: isErrorCode(code) ? code : ErrorCode.INTERNAL_SERVER_ERROR, serverMessage: first?.message };
  }
  if (ServerError.is(error)) {
    const body = fromBody(error.bodyText);
    return { code: body.code ?? statusCodes[error.statusCode] ?? 'SERVER_ERROR', serverMessage: body.message };
  }
  if (error instanceof HttpError) return { code: error.code, serverMessage: error.message };
  return { code: 'NETWORK_ERROR' };
}

/** A failed fetch outside GraphQL (the health report), with the code of its JSON body or its status. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly code: ClientErrorCode;

  constructor(status: number, body: string) {
    const parsed = fromBody(body);
    super(parsed.message ?? `HTTP ${status}`);
    this.code = parsed.code ?? statusCodes[status] ?? 'SERVER_ERROR';
  }
}

/** What to tell a person about a failure: one sentence per code, with the server's words where they help. */
export function explainError(error: unknown): ExplainedError {
  const { code, serverMessage } = errorCodeOf(error);
  const detail = serverMessage ? ` (${serverMessage})` : '';
  switch (code) {
    case ErrorCode.OUT_OF_STOCK:
      return { code, message: `Not enough stock for that quantity${detail}.` };
    case ErrorCode.PAYMENT_DECLINED:
      return { code, message: `Your payment was declined${detail}. Choose another payment method.` };
    case ErrorCode.RATE_LIMITED:
      return { code, message: 'Too many requests. Wait a moment, then try again.' };
    case ErrorCode.UNAUTHENTICATED:
      return { code, message: 'Your session has expired. Sign in again to continue.' };
    case ErrorCode.FORBIDDEN:
      return { code, message: 'You are not allowed to do that.' };
    case ErrorCode.NOT_FOUND:
      return { code, message: `Not found${detail}.` };
    case ErrorCode.CONFLICT:
      return { code, message: `That is no longer possible${detail}.` };
    case ErrorCode.BAD_USER_INPUT:
      return { code, message: `Please check your input${detail}.` };
    case ErrorCode.IDEMPOTENCY_KEY_REUSED:
      return { code, message: 'Your cart changed while the order was being placed. Review it and place the order again.' };
    case ErrorCode.QUERY_TOO_COMPLEX:
    case ErrorCode.PAYLOAD_TOO_LARGE:
      return { code, message: `The request was refused as too large${detail}.` };
    case ErrorCode.SERVICE_UNAVAILABLE:
      // Not "nothing was changed": the gateway cannot know that of a mutation whose answer it lost (ADR 0024).
      return { code, message: 'Part of the shop is not answering right now. Try again in a moment.' };
    case 'NETWORK_ERROR':
      return { code, message: 'The shop cannot be reached. Check your connection and try again.' };
    case ErrorCode.INTERNAL_SERVER_ERROR:
    case 'SERVER_ERROR':
      return { code, message: `Something went wrong on our side${detail}. Try again in a moment.` };
  }
}
