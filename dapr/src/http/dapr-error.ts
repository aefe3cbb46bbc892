import type { FastifyReply } from 'fastify';

/** daprd's error body: `{ errorCode, message }` with the HTTP status of the API reference. */
export function sendDaprError(reply: FastifyReply, status: number, errorCode: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ errorCode, message });
}

/** A request the API refuses, answered as daprd's `{ errorCode, message }` with this HTTP status. */
export class DaprApiError extends Error {
  override name = 'DaprApiError';
  readonly status: number;
  readonly errorCode: string;

  constructor(status: number, errorCode: string, message: string) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
  }
}
