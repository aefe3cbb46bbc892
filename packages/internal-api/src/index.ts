export { domainFailure, internalProcedure, internalRouter, registerInternalApi, UNEXPECTED_FAILURE } from './server.ts';
export type { InternalApiOptions, InternalContext, InternalErrorData } from './server.ts';
export { createInternalClient, domainCodeOf, failureMessageOf, participantFailure } from './client.ts';
export type { InternalClientOptions, InternalTarget } from './client.ts';
export { isPaymentMethod, PAYMENT_METHODS } from './payment-methods.ts';
export type { PaymentMethod } from './payment-methods.ts';
