import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isUuid } from '@agora/service';
import { recordOutcome, type Observation, type PaymentDeps } from '../modules/payment/record-outcome.ts';
import { ProviderUnavailableError } from '../modules/provider/payment-provider.ts';
import { SIGNATURE_HEADER, verifyWebhookSignature, type ProviderWebhookEvent } from './webhook-signature.ts';

export const WEBHOOK_PATH = '/webhooks/payment-provider';

const eventSchema = z.object({
  id: z.string().min(1).max(100),
  type: z.string().min(1).max(100),
  created: z.number().int(),
  data: z.object({
    providerPaymentId: z.string().min(1).max(64),
    reference: z.string().max(200),
    amount: z.object({ amount: z.number().int(), currency: z.string() }),
    failureReason: z.string().max(200).optional(),
  }),
});

const HANDLED: readonly string[] = ['payment.succeeded', 'payment.failed'] satisfies ProviderWebhookEvent['type'][];

export interface ProviderWebhookOptions {
  deps: PaymentDeps;
  secret: string;
  toleranceSeconds: number;
}

/**
 * The provider's webhook: a signed event settles a payment that waited for confirmation. The
 * signature is checked over the raw body before anything is parsed; a bad one is 400 and changes
 * nothing. An event id seen before is 200 and changes nothing. A 5xx makes the provider redeliver.
 */
export async function registerProviderWebhook(app: FastifyInstance, options: ProviderWebhookOptions): Promise<void> {
  const { deps } = options;
  await app.register(async (scope) => {
    // The signature covers the exact bytes sent: keep them (this scope only; /graphql and /trpc parse JSON as usual).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));

    scope.post(WEBHOOK_PATH, async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers[SIGNATURE_HEADER];
      const check = verifyWebhookSignature(typeof header === 'string' ? header : undefined, raw, { secret: options.secret, toleranceSeconds: options.toleranceSeconds });
      if (!check.ok) {
        request.log.warn({ reason: check.reason }, 'payment provider webhook refused: bad signature');
        return reply.code(400).send({ error: 'invalid_signature', message: check.reason });
      }
      let parsed: z.infer<typeof eventSchema>;
      try {
        parsed = eventSchema.parse(JSON.parse(raw.toString('utf8')));
      } catch {
        return reply.code(400).send({ error: 'invalid_payload', message: 'the event is not a payment provider event' });
      }
      const { data } = parsed;
      const log = request.log.child({ eventId: parsed.id, eventType: parsed.type, providerPaymentId: data.providerPaymentId });
      if (!HANDLED.includes(parsed.type) || !isUuid(data.reference)) {
        log.info('payment provider webhook ignored: not an event about one of our payments');
        return { received: true, ignored: true };
      }
      const observation: Observation =
        parsed.type === 'payment.succeeded'
          ? { kind: 'succeeded', providerPaymentId: data.providerPaymentId }
          : { kind: 'failed', providerPaymentId: data.providerPaymentId, reason: data.failureReason ?? 'confirmation failed' };
      try {
        const result = await recordOutcome(deps, data.reference, observation, {
          webhookEvent: { id: parsed.id, type: parsed.type, providerPaymentId: data.providerPaymentId },
        });
        switch (result.kind) {
          case 'duplicate':
            log.info('payment provider webhook already applied');
            return { received: true, duplicate: true };
          case 'missing':
            log.warn({ reference: data.reference }, 'payment provider webhook for an unknown payment ignored');
            return { received: true, ignored: true };
          case 'recorded':
            log.info({ status: result.payment.status, changed: result.changed }, 'payment provider webhook applied');
            return { received: true };
        }
      } catch (error) {
        if (!(error instanceof ProviderUnavailableError)) throw error;
        log.warn({ reason: error.message }, 'payment provider webhook not applied yet: the refund of a late capture failed');
        return reply.code(503).send({ error: 'unavailable', message: 'try again later' });
      }
    });
  });
}
