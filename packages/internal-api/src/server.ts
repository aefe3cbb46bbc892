import { initTRPC, TRPCError, type AnyTRPCRouter } from '@trpc/server';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import type { FastifyInstance } from 'fastify';
import { AuthenticationError, bearerToken, hasRole, Role, type Caller, type TokenVerifier } from '@agora/auth';
import { DomainError, type ErrorCode, type Logger } from '@agora/service';

// The internal API: each participant's commands as a tRPC router (zod input), served under /trpc
// on the app's own port and called by other services through Dapr service invocation
// (docs/adr/0009-internal-api.md). Only service tokens get in: the caller must hold `admin`,
// which the `agora-service` service account has (docs/adr/0007).

export interface InternalContext {
  /** The verified service caller. */
  caller: Caller;
  log: Logger;
}

/** What a participant's procedure can fail with on purpose: a domain code the caller can branch on. */
export interface InternalErrorData {
  domainCode: ErrorCode | undefined;
  details: Record<string, unknown> | undefined;
}

/**
 * An unexpected failure's message stays in the participant's log (onError below): callers record
 * what they are told in saga steps, which the order's owner can read.
 */
export const UNEXPECTED_FAILURE = 'the participant failed unexpectedly; its log has the details';

const t = initTRPC.context<InternalContext>().create({
  errorFormatter({ shape, error }) {
    const domain = error.cause instanceof DomainError ? error.cause : undefined;
    const data: InternalErrorData = { domainCode: domain?.code, details: domain?.details };
    const message = error.code === 'INTERNAL_SERVER_ERROR' && !domain ? UNEXPECTED_FAILURE : shape.message;
    return { ...shape, message, data: { ...shape.data, ...data, stack: undefined } };
  },
});

export const internalRouter = t.router;
export const internalProcedure = t.procedure;

const TRPC_CODES: Partial<Record<ErrorCode, TRPCError['code']>> = {
  BAD_USER_INPUT: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  FORBIDDEN: 'FORBIDDEN',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  CONFLICT: 'CONFLICT',
  IDEMPOTENCY_KEY_REUSED: 'CONFLICT',
};

/** A domain failure as a tRPC error: HTTP status from the code, the domain code in `data.domainCode`. */
export function domainFailure(error: DomainError): TRPCError {
  return new TRPCError({ code: TRPC_CODES[error.code] ?? 'UNPROCESSABLE_CONTENT', message: error.message, cause: error });
}

export interface InternalApiOptions {
  verifier: TokenVerifier;
  logger: Logger;
}

/** Mounts `router` at /trpc, admitting only callers with a verified token holding `admin`. */
export async function registerInternalApi(app: FastifyInstance, router: AnyTRPCRouter, options: InternalApiOptions): Promise<void> {
  const createContext = async ({ req }: { req: { headers: Record<string, string | string[] | undefined> } }): Promise<InternalContext> => {
    const authorization = req.headers['authorization'];
    const token = bearerToken(typeof authorization === 'string' ? authorization : undefined);
    if (token === undefined) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'A service bearer token is required' });
    let caller: Caller;
    try {
      caller = await options.verifier.verify(token);
    } catch (error) {
      if (error instanceof AuthenticationError) throw new TRPCError({ code: 'UNAUTHORIZED', message: error.message });
      throw error;
    }
    if (!hasRole(caller, Role.ADMIN)) throw new TRPCError({ code: 'FORBIDDEN', message: 'The internal API is for services (a token with the admin role)' });
    return { caller, log: options.logger.child({ caller: caller.username }) };
  };
  const pluginOptions: FastifyTRPCPluginOptions<AnyTRPCRouter> = {
    prefix: '/trpc',
    trpcOptions: {
      router,
      createContext,
      onError: ({ error, path }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR') options.logger.error({ err: error.cause ?? error, path }, 'internal API call failed');
      },
    },
  };
  await app.register(fastifyTRPCPlugin, pluginOptions);
}
