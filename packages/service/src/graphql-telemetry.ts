import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { trace } from '@opentelemetry/api';
import { counter, currentTraceparent, histogram } from '@agora/telemetry';
import { DomainError, ErrorCode, isClientCode, isUnavailable, originalOf } from './errors.ts';
import type { Logger } from './logger.ts';

// RED per GraphQL operation, for the gateway and every subgraph: every operation answers HTTP 200
// whatever happened, so only here are its errors visible. Operation names come from clients;
// past MAX_OPERATION_NAMES distinct names, new ones count as `other`, so a client cannot grow
// the metrics without bound. The errors clients see without their cause are logged here too: an
// unexpected one at error level with its stack (clients outside development read only "Internal
// server error"), a dependency that did not answer at warn (docs/adr/0025).

const operations = counter({ name: 'agora_graphql_operations_total', help: 'GraphQL operations answered, by name, type and outcome (ok or error)', labelNames: ['operation', 'type', 'outcome'] });
const errors = counter({ name: 'agora_graphql_errors_total', help: 'GraphQL errors answered, by operation and extensions.code', labelNames: ['operation', 'code'] });
const durations = histogram({ name: 'agora_graphql_operation_duration_seconds', help: 'Time to answer a GraphQL operation', labelNames: ['operation', 'type'] });

const MAX_OPERATION_NAMES = 200;

/** Logs an operation's error unless it is one clients are meant to see (a domain error, a refusal). */
function logError(logger: Logger, error: unknown, operation: string | undefined): void {
  const original = originalOf(error);
  const path = (error as { path?: readonly (string | number)[] }).path?.join('.');
  if (original instanceof DomainError) {
    // A participant or store that did not answer: the client was told to try again; say what happened.
    if (original.code === ErrorCode.SERVICE_UNAVAILABLE) logger.warn({ operation, path, details: original.details, err: original.cause ?? original }, original.message);
    return;
  }
  // A refusal clients are meant to read; a subgraph's error relayed by the gateway (federation names its service) was logged by that subgraph.
  const extensions = (error as { extensions?: { code?: unknown; serviceName?: unknown } }).extensions;
  if (isClientCode(extensions?.code) || typeof extensions?.serviceName === 'string') return;
  if (isUnavailable(original)) logger.warn({ operation, path, err: original }, 'a dependency did not answer; the client was told to try again');
  else logger.error({ operation, path, err: original }, 'operation failed with an unexpected error');
}

export function graphqlTelemetryPlugin<TContext extends BaseContext>(logger: Logger): ApolloServerPlugin<TContext> {
  const seen = new Set<string>();
  const labelOf = (name: string): string => {
    if (seen.has(name)) return name;
    if (seen.size >= MAX_OPERATION_NAMES) return 'other';
    seen.add(name);
    return name;
  };
  return {
    async requestDidStart() {
      const started = performance.now();
      const traceparent = currentTraceparent();
      return {
        async didEncounterErrors({ errors: encountered, operationName }) {
          for (const error of encountered) logError(logger, error, operationName ?? undefined);
        },
        async didResolveOperation({ operationName, operation }) {
          if (operation) trace.getActiveSpan()?.setAttributes({ 'graphql.operation.name': operationName ?? '', 'graphql.operation.type': operation.operation });
        },
        async willSendResponse(context) {
          // Not parsed or not valid: no operation to name.
          const operation = context.operation ? labelOf(context.operationName ?? 'anonymous') : 'invalid';
          const type = context.operation?.operation ?? 'unknown';
          // The errors as answered, after formatError gave each its code.
          const { body } = context.response;
          const failed = body.kind === 'single' ? (body.singleResult.errors ?? []) : (context.errors ?? []);
          operations.inc({ operation, type, outcome: failed.length > 0 ? 'error' : 'ok' }, { traceparent });
          for (const error of failed) {
            const code = error.extensions?.['code'];
            errors.inc({ operation, code: typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR' }, { traceparent });
          }
          durations.observe({ operation, type }, (performance.now() - started) / 1000, { traceparent });
        },
      };
    },
  };
}
