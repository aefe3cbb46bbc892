import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** Provider webhook events already applied, by the provider's event id: a redelivery changes nothing. */
export const ProviderWebhookEvent = defineEntity({
  name: 'ProviderWebhookEvent',
  tableName: 'provider_webhook_events',
  properties: {
    id: p.string().length(100).primary(),
    type: p.string().length(100),
    providerPaymentId: p.string().length(64),
    receivedAt: p.datetime().onCreate(() => new Date()),
  },
});

export type ProviderWebhookEventEntity = InferEntity<typeof ProviderWebhookEvent>;
