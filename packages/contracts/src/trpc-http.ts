import { MatchersV3 } from '@pact-foundation/pact';
// The V4 builder types are not re-exported from the package's entry point.
import type { V4InteractionWithRequest, V4ResponseBuilder, V4UnconfiguredInteraction } from '@pact-foundation/pact/src/v4/http/types.js';
import type { ErrorCode } from '@agora/service';

// The internal API's HTTP shape, as tRPC 11's httpLink (no batching, no transformer) sends it and
// the participants' /trpc route answers it (docs/adr/0009-internal-api.md):
//   mutation  POST /trpc/<procedure>           body: the input as JSON
//   query     GET  /trpc/<procedure>?input=…   the input as JSON in the query string
//   success   200 { result: { data } }
//   failure   4xx { error: { message, code: <JSON-RPC number>, data: { domainCode, details, … } } }
// The client needs `error.message` (string) and `error.code` (number) to read the answer as a
// TRPCClientError at all, and the saga branches on `data.domainCode`.

const { integer, regex, string } = MatchersV3;

/** The token the consumer tests send; provider verification replaces it with a real service token. */
export const CONSUMER_TOKEN = 'contract-test-service-token';

const authorization = regex('^Bearer \\S+$', `Bearer ${CONSUMER_TOKEN}`);

/** A mutation as httpLink sends it (jsonBody adds its content type). */
export const mutation = (interaction: V4UnconfiguredInteraction, procedure: string, input: unknown): V4InteractionWithRequest =>
  interaction.withRequest('POST', `/trpc/${procedure}`, (request) => request.headers({ authorization }).jsonBody(input));

/** A query as httpLink sends it: `input` is the JSON of the input, matched by `pattern`. */
export const query = (interaction: V4UnconfiguredInteraction, procedure: string, input: unknown, pattern: string): V4InteractionWithRequest =>
  interaction.withRequest('GET', `/trpc/${procedure}`, (request) => request.headers({ authorization }).query({ input: regex(pattern, JSON.stringify(input)) }));

/** A procedure's answer. */
export const result =
  (data: unknown) =>
  (response: V4ResponseBuilder): void => {
    response.jsonBody({ result: { data } });
  };

/** HTTP statuses of domain failures (`domainFailure` in @agora/internal-api). */
const STATUS: Partial<Record<ErrorCode, number>> = { NOT_FOUND: 404, CONFLICT: 409, IDEMPOTENCY_KEY_REUSED: 409 };

/** The status a domain failure with `code` is answered with: 422 for refusals such as OUT_OF_STOCK. */
export const statusOf = (code: ErrorCode): number => STATUS[code] ?? 422;

/** A domain failure the caller branches on. */
export const refusal =
  (domainCode: ErrorCode, message: string) =>
  (response: V4ResponseBuilder): void => {
    response.jsonBody({ error: { message: string(message), code: integer(-32000), data: { domainCode } } });
  };

/** The JSON of a list of UUIDs in a query's input, e.g. `{"productIds":[…]}`. */
export const uuidListPattern = (field: string): string => `^\\{"${field}":\\["[0-9a-f-]{36}"(,"[0-9a-f-]{36}")*\\]\\}$`;
