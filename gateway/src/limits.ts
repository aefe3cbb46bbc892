import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { DomainError, ErrorCode } from '@agora/service';
import type { GatewayEnv } from './env.ts';

export type QueryLimit = 'depth' | 'cost' | 'aliases' | 'directives';

export interface QueryLimits {
  plugins: ApolloServerPlugin[];
  validationRules: ValidationRule[];
  /** graphql-js stops parsing past this many tokens (GRAPHQL_PARSE_FAILED); armor's own token plugin answers 500 under Apollo. */
  parseOptions: { maxTokens: number };
}

/**
 * Refuses a limit violation with QUERY_TOO_COMPLEX (HTTP 400) instead of armor's generic code.
 * The DomainError rides as originalError, which Apollo keeps and formatGraphQLError turns into the code.
 */
function rejectAs(limit: QueryLimit) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        // armor words every refusal as a "Syntax Error", which it is not.
        const message = error.message.replace(/^Syntax Error: /, '');
        const refusal = new GraphQLError(message, { originalError: new DomainError(ErrorCode.QUERY_TOO_COMPLEX, message, { limit }) });
        if (!context) throw refusal;
        context.reportError(refusal);
      },
    ],
  };
}

/**
 * Static limits checked before any subgraph is called: depth, cost, aliases and directives
 * (graphql-armor), tokens (graphql-js); field suggestions ("Did you mean …?") are masked outside development.
 */
export function queryLimits(env: GatewayEnv, development: boolean): QueryLimits {
  const armor = new ApolloArmor({
    maxDepth: { n: env.GRAPHQL_MAX_DEPTH, ignoreIntrospection: true, exposeLimits: true, ...rejectAs('depth') },
    costLimit: { maxCost: env.GRAPHQL_MAX_COST, ignoreIntrospection: true, exposeLimits: true, ...rejectAs('cost') },
    maxAliases: { n: env.GRAPHQL_MAX_ALIASES, exposeLimits: true, ...rejectAs('aliases') },
    maxDirectives: { n: env.GRAPHQL_MAX_DIRECTIVES, exposeLimits: true, ...rejectAs('directives') },
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: !development },
  });
  const { plugins, validationRules } = armor.protect();
  // armor's typings name @apollo/server's CommonJS declarations; the plugin objects are the same at run time.
  return { plugins: plugins as unknown as ApolloServerPlugin[], validationRules, parseOptions: { maxTokens: env.GRAPHQL_MAX_TOKENS } };
}
