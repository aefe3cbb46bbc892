import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AuthenticationError, bearerToken, hasRole, Role, type TokenVerifier } from '@agora/auth';
import { isUuid } from '@agora/service';
import { ProviderRequestError } from '../payment-provider.ts';
import type { SimulatedPaymentProvider } from './simulated-provider.ts';

const bodySchema = z.object({ outcome: z.enum(['succeeded', 'failed']), force: z.boolean().optional() });

/**
 * Development only: what a customer does on the provider's 3-D Secure page, for the CLI demo
 * and end-to-end tests. `POST /simulated-provider/orders/:orderId/confirmation` with
 * `{ "outcome": "succeeded" | "failed" }` and an admin (service) token.
 */
export async function registerSimulatedProviderRoutes(app: FastifyInstance, provider: SimulatedPaymentProvider, verifier: TokenVerifier): Promise<void> {
  app.post<{ Params: { orderId: string } }>('/simulated-provider/orders/:orderId/confirmation', async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthenticated' });
    const caller = await verifier.verify(token).catch((error: unknown) => {
      if (error instanceof AuthenticationError) return undefined;
      throw error;
    });
    if (!caller) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthenticated' });
    if (!hasRole(caller, Role.ADMIN)) return reply.code(403).send({ error: 'forbidden', message: 'needs the admin role' });
    const body = bodySchema.safeParse(request.body);
    if (!body.success || !isUuid(request.params.orderId)) return reply.code(400).send({ error: 'bad_request', message: 'expected an order id and { "outcome": "succeeded" | "failed" }' });
    try {
      return await provider.confirm({ reference: request.params.orderId }, body.data.outcome, { force: body.data.force ?? false });
    } catch (error) {
      if (error instanceof ProviderRequestError) return reply.code(404).send({ error: 'not_found', message: error.message });
      throw error;
    }
  });
}
