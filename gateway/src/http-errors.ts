import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@agora/service';

/** A request refused before GraphQL runs, answered in GraphQL's error shape with an HTTP status. */
export class HttpRefusal extends Error {
  override name = 'HttpRefusal';
  readonly statusCode: number;
  readonly code: ErrorCode;

  constructor(statusCode: number, code: ErrorCode, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}

const graphQLErrorBody = (code: ErrorCode, message: string) => ({ errors: [{ message, extensions: { code } }] });

/** Fastify error handler: refusals and oversized bodies get coded GraphQL errors; the rest Fastify's default. */
export function refusalHandler(bodyLimitBytes: number) {
  return (error: FastifyError | HttpRefusal, _request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof HttpRefusal) return reply.code(error.statusCode).send(graphQLErrorBody(error.code, error.message));
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(graphQLErrorBody(ErrorCode.PAYLOAD_TOO_LARGE, `Request body is larger than ${bodyLimitBytes} bytes`));
    }
    return reply.send(error);
  };
}
