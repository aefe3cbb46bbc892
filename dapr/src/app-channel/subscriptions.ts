import type { Logger } from '@agora/service';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import { z } from 'zod';
import type { SubscriptionSpec } from '../components/resources.ts';
import type { AppAddress } from '../context.ts';
import { CelError, compileCel, type CelProgram } from '../resiliency/cel.ts';
import { metadataValue, parseGoBool } from './cloudevents.ts';

// The subscriptions in effect, as daprd assembles them: declarative Subscription resources, then
// the app's answer to GET /dapr/subscribe, which replaces a declarative subscription to the same
// pubsub and topic. Routing rules are compiled here, so an expression this sidecar cannot
// evaluate stops that subscription with an error log instead of misrouting at delivery time.

export interface RouteRule {
  match: string;
  path: string;
  /** Undefined for a rule without a match (the default route): it always applies. */
  program: CelProgram | undefined;
}

export interface SubscriptionRoute {
  pubsubName: string;
  topic: string;
  /** In order; the default route, if any, last. */
  rules: RouteRule[];
  deadLetterTopic: string | undefined;
  metadata: Record<string, string>;
  rawPayload: boolean;
  type: 'DECLARATIVE' | 'PROGRAMMATIC';
  /** Where it was declared, for logs. */
  origin: string;
}

interface RouteInput {
  pubsubName: string;
  topic: string;
  rules: { match: string; path: string }[];
  defaultRoute: string | undefined;
  deadLetterTopic: string | undefined;
  metadata: Record<string, string>;
  bulkSubscribe: boolean;
}

export class SubscriptionError extends Error {
  override name = 'SubscriptionError';
}

function compileRule(match: string, path: string): RouteRule {
  const trimmed = match.trim();
  if (trimmed === '') return { match: '', path, program: undefined };
  try {
    return { match: trimmed, path, program: compileCel(trimmed, ['event']) };
  } catch (error) {
    if (error instanceof CelError) throw new SubscriptionError(`invalid match expression for route ${path}: ${error.message}`);
    throw error;
  }
}

function routeFrom(input: RouteInput, type: SubscriptionRoute['type'], origin: string): SubscriptionRoute {
  const where = `subscription to topic ${input.topic} on pubsub ${input.pubsubName} (${origin})`;
  if (input.bulkSubscribe) throw new SubscriptionError(`${where}: bulkSubscribe is not supported by the local sidecar`);
  const raw = metadataValue(input.metadata, 'rawPayload');
  const rawPayload = raw ? parseGoBool(raw) : false;
  if (rawPayload === undefined) throw new SubscriptionError(`${where}: metadata rawPayload must be a boolean (got ${JSON.stringify(raw)})`);
  let rules: RouteRule[];
  try {
    rules = input.rules.map((rule) => compileRule(rule.match, rule.path));
  } catch (error) {
    throw error instanceof SubscriptionError ? new SubscriptionError(`${where}: ${error.message}`) : error;
  }
  if (input.defaultRoute) rules.push({ match: '', path: input.defaultRoute, program: undefined });
  if (rules.length === 0) throw new SubscriptionError(`${where}: it has no routes`);
  return { pubsubName: input.pubsubName, topic: input.topic, rules, deadLetterTopic: input.deadLetterTopic || undefined, metadata: input.metadata, rawPayload, type, origin };
}

/** Keeps the valid routes; logs each invalid one as an error (it is not subscribed). */
function validRoutes(inputs: readonly { input: RouteInput; origin: string }[], type: SubscriptionRoute['type'], logger: Logger): SubscriptionRoute[] {
  return inputs.flatMap(({ input, origin }) => {
    try {
      return [routeFrom(input, type, origin)];
    } catch (error) {
      if (!(error instanceof SubscriptionError)) throw error;
      logger.error(error.message);
      return [];
    }
  });
}

export function declarativeRoutes(specs: readonly SubscriptionSpec[], logger: Logger): SubscriptionRoute[] {
  return validRoutes(
    specs.map((spec) => ({ input: { ...spec, bulkSubscribe: false }, origin: `Subscription ${spec.name} in ${spec.file}` })),
    'DECLARATIVE',
    logger,
  );
}

const lowerKeys = (value: unknown): unknown =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key.toLowerCase(), item])) : value;

// Go's encoding/json matches member names case-insensitively; these schemas see lower-cased names.
const ruleJson = z.preprocess(lowerKeys, z.object({ match: z.string().default(''), path: z.string().default('') }));
const subscriptionJson = z.preprocess(
  lowerKeys,
  z.object({
    pubsubname: z.string().min(1),
    topic: z.string().min(1),
    route: z.string().default(''),
    routes: z.preprocess(lowerKeys, z.object({ rules: z.array(ruleJson).nullish(), default: z.string().default('') })).optional(),
    metadata: z.record(z.string(), z.string()).nullish(),
    deadlettertopic: z.string().default(''),
    bulksubscribe: z.preprocess(lowerKeys, z.object({ enabled: z.boolean().default(false) }).loose()).optional(),
  }),
);

function programmaticInput(item: z.infer<typeof subscriptionJson>): RouteInput {
  return {
    pubsubName: item.pubsubname,
    topic: item.topic,
    rules: item.routes?.rules ?? [],
    // v2 `routes.default` wins over v1 `route`.
    defaultRoute: item.routes?.default || item.route || undefined,
    deadLetterTopic: item.deadlettertopic || undefined,
    metadata: item.metadata ?? {},
    bulkSubscribe: item.bulksubscribe?.enabled ?? false,
  };
}

/** The app's subscriptions from GET /dapr/subscribe; none when it answers 404 (no programmatic subscriptions). */
export async function fetchProgrammaticRoutes(app: AppAddress & { port: number }, appId: string, signal: AbortSignal, logger: Logger): Promise<SubscriptionRoute[]> {
  const host = app.host.includes(':') ? `[${app.host}]` : app.host;
  const url = `http://${host}:${app.port}/dapr/subscribe`;
  // daprd's DaprBuiltInInitializationRetries: 3 retries, exponential from 500 ms.
  const policy = retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: 1_000 }) });
  const response = await policy.execute(
    ({ signal: attemptSignal }) => fetch(url, { headers: { 'content-type': 'application/json', 'dapr-app-id': appId }, signal: AbortSignal.any([attemptSignal, AbortSignal.timeout(10_000)]) }),
    signal,
  );
  const body = await response.text();
  if (response.status === 404) {
    logger.debug('app did not subscribe to any topic (GET /dapr/subscribe answered 404)');
    return [];
  }
  if (response.status !== 200) {
    logger.error({ status: response.status }, 'app returned an unexpected http status code from its subscription endpoint GET /dapr/subscribe');
    return [];
  }
  let items: unknown;
  try {
    // An empty body or `null` decodes to no subscriptions, as in daprd's Go decoder.
    items = body.trim() === '' ? null : JSON.parse(body);
  } catch (error) {
    logger.error({ error: error instanceof Error ? error.message : String(error) }, 'error getting topics from app: GET /dapr/subscribe did not answer JSON');
    return [];
  }
  if (items === null) return [];
  if (!Array.isArray(items)) {
    logger.error('error getting topics from app: GET /dapr/subscribe must answer a JSON array');
    return [];
  }
  const inputs = items.flatMap((item: unknown, index) => {
    const parsed = subscriptionJson.safeParse(item);
    if (parsed.success) return [{ input: programmaticInput(parsed.data), origin: `GET /dapr/subscribe entry ${index}` }];
    logger.error({ entry: item, issues: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) }, `invalid subscription in GET /dapr/subscribe entry ${index}`);
    return [];
  });
  return validRoutes(inputs, 'PROGRAMMATIC', logger);
}

/** One subscription per pubsub and topic: the first declarative one, replaced by a programmatic one (as daprd). */
export function mergeRoutes(declarative: readonly SubscriptionRoute[], programmatic: readonly SubscriptionRoute[]): SubscriptionRoute[] {
  const byKey = new Map<string, SubscriptionRoute>();
  const key = (route: SubscriptionRoute) => `${route.pubsubName}\u0000${route.topic}`;
  for (const route of declarative) if (!byKey.has(key(route))) byKey.set(key(route), route);
  for (const route of programmatic) byKey.set(key(route), route);
  return [...byKey.values()];
}
