import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';

/**
 * Answers a document whose operation cannot be chosen (several operations without `operationName`,
 * or an unknown name) with 400 OPERATION_RESOLUTION_FAILURE. Without it Apollo Gateway's executor
 * throws, which reaches clients as 500 INTERNAL_SERVER_ERROR (found by test/attacks.test.ts).
 */
export function operationResolutionPlugin<TContext extends object>(): ApolloServerPlugin<TContext> {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: ({ operation, request }) => {
          if (operation) return Promise.resolve();
          const message = request.operationName
            ? `Unknown operation named "${request.operationName}"`
            : 'Must provide operationName when the document contains several operations';
          return Promise.reject(new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } }));
        },
      }),
  };
}
