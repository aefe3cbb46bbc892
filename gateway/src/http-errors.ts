import type { FastifyError, FastifyReply } from 'fastify';
import { ErrorCode } from '@agora/service';

/** A request refused before GraphQL runs, answered in GraphQL's error shape with an HTTP status. */
export class HttpRefusal extends Error {
  override name = 'HttpRefusal';
  readonly statusCode: number;
  readonly code: RefusalCode;
  readonly headers: Readonly<Record<string, string>>;

  constructor(statusCode: number, code: RefusalCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

/** Our codes, plus Apollo's BAD_REQUEST for requests malformed at the HTTP level (as a batch is). */
export type RefusalCode = ErrorCode | 'BAD_REQUEST';

const graphQLErrorBody = (code: RefusalCode, message: string) => ({ errors: [{ message, extensions: { code } }] });

/** createHttpServer's answerError: refusals and oversized bodies get coded GraphQL errors; the rest the server's default. */
export function refusalHandler(bodyLimitBytes: number) {
  return (error: FastifyError | HttpRefusal, reply: FastifyReply): FastifyReply | undefined => {
    if (error instanceof HttpRefusal) return reply.code(error.statusCode).headers(error.headers).send(graphQLErrorBody(error.code, error.message));
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(graphQLErrorBody(ErrorCode.PAYLOAD_TOO_LARGE, `Request body is larger than ${bodyLimitBytes} bytes`));
    }
    return undefined;
  };
}
