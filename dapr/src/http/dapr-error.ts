import type { FastifyReply } from 'fastify';

/** daprd's error body: `{ errorCode, message }` with the HTTP status of the API reference. */
export function sendDaprError(reply: FastifyReply, status: number, errorCode: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ errorCode, message });
}
