import { Verifier, type MessageProviders, type VerifierOptions } from '@pact-foundation/pact';
import { pactFile } from './pact-files.ts';

export interface ProviderVerification {
  provider: string;
  /** The consumers whose checked-in pacts with `provider` are verified. */
  consumers: string[];
  /** The running provider's base URL (HTTP interactions). */
  baseUrl?: string;
  /** A real service token for every HTTP request, in place of the consumer tests' placeholder. */
  token?: () => Promise<string>;
  stateHandlers: NonNullable<VerifierOptions['stateHandlers']>;
  /** Message interactions by description: produce the message the provider state led to. */
  messageProviders?: MessageProviders;
}

interface VerifierReport {
  errors?: { interaction?: string; mismatch?: { mismatches?: { path?: string; key?: string; mismatch?: string }[]; message?: string } }[];
}

/** The verifier rejects with its whole JSON report as the message; keep only what failed. */
function summary(provider: string, error: unknown): Error {
  if (!(error instanceof Error)) return new Error(`verifying ${provider} failed: ${String(error)}`);
  let report: VerifierReport;
  try {
    report = JSON.parse(error.message) as VerifierReport;
  } catch {
    return error;
  }
  const lines = (report.errors ?? []).flatMap(({ interaction, mismatch }) => {
    const details = mismatch?.mismatches?.map((m) => `${m.path ?? m.key ?? ''} ${m.mismatch ?? ''}`.trim()) ?? [mismatch?.message ?? 'failed'];
    return [`- ${interaction ?? '(unknown interaction)'}`, ...details.map((detail) => `    ${detail}`)];
  });
  return new Error(`${provider} breaks the pacts of its consumers:\n${lines.join('\n')}`);
}

/** Verifies the checked-in pacts of `consumers` against the running provider; rejects with every mismatch. */
export async function verifyProvider(options: ProviderVerification): Promise<void> {
  const { token } = options;
  const verifier = new Verifier({
    provider: options.provider,
    pactUrls: options.consumers.map((consumer) => pactFile(consumer, options.provider)),
    ...(options.baseUrl ? { providerBaseUrl: options.baseUrl } : {}),
    stateHandlers: options.stateHandlers,
    ...(options.messageProviders ? { messageProviders: options.messageProviders } : {}),
    logLevel: 'error',
    failIfNoPactsFound: true,
    requestFilter: (request, _response, next) => {
      if (!token) return next();
      token().then(
        (value) => {
          request.headers.authorization = `Bearer ${value}`;
          next();
        },
        (error: unknown) => next(error),
      );
    },
  });
  try {
    await verifier.verifyProvider();
  } catch (error) {
    throw summary(options.provider, error);
  }
}
