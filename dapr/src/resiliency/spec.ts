import { z } from 'zod';
import type { ResiliencySpec } from '../components/resources.ts';
import { parseDuration } from './duration.ts';

// The Resiliency resource's `spec` (dapr.io/v1alpha1), validated field by field. Objects are
// strict: a misspelt field fails the start instead of silently leaving a default in place.

export class ResiliencyConfigError extends Error {
  override name = 'ResiliencyConfigError';
}

const duration = z.union([z.string(), z.number()]).transform((value, context) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    context.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(value)} (expected e.g. 500ms, 5s, 1m30s)` });
    return z.NEVER;
  }
  return ms;
});

const integer = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform(Number).pipe(z.number().int());

const statusRanges = (low: number, high: number) =>
  z.string().transform((value, context) => {
    const ranges: [number, number][] = [];
    for (const pattern of value.split(',').filter(Boolean)) {
      const bounds = pattern.trim().split('-').map(Number);
      const [start = Number.NaN, end = start] = bounds;
      if (bounds.length > 2 || !Number.isInteger(start) || !Number.isInteger(end) || start < low || end > high || start > end) {
        context.addIssue({ code: 'custom', message: `invalid status code pattern ${JSON.stringify(pattern)} (expected codes or ranges between ${low} and ${high}, e.g. "429,500-599")` });
        return z.NEVER;
      }
      ranges.push([start, end]);
    }
    return ranges;
  });

const retrySchema = z.strictObject({
  policy: z.string().toLowerCase().pipe(z.enum(['constant', 'exponential'])).default('constant'),
  duration: duration.optional(),
  initialInterval: duration.optional(),
  maxInterval: duration.optional(),
  maxRetries: integer.pipe(z.number().min(-1)).optional(),
  matching: z.strictObject({ httpStatusCodes: statusRanges(100, 599).optional(), gRPCStatusCodes: statusRanges(0, 16).optional() }).optional(),
});

const circuitBreakerSchema = z.strictObject({
  maxRequests: integer.pipe(z.number().min(0)).optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  trip: z.string().optional(),
});

// An empty name means "no policy", as in daprd.
const policyName = z
  .string()
  .transform((name) => (name === '' ? undefined : name))
  .optional();

const policyNamesSchema = z.strictObject({ timeout: policyName, retry: policyName, circuitBreaker: policyName });

const specSchema = z.strictObject({
  policies: z
    .strictObject({
      timeouts: z.record(z.string(), duration).default({}),
      retries: z.record(z.string(), retrySchema).default({}),
      circuitBreakers: z.record(z.string(), circuitBreakerSchema).default({}),
    })
    .default({ timeouts: {}, retries: {}, circuitBreakers: {} }),
  targets: z
    .strictObject({
      apps: z.record(z.string(), policyNamesSchema.extend({ circuitBreakerCacheSize: integer.optional() })).default({}),
      actors: z.record(z.string(), policyNamesSchema.extend({ circuitBreakerScope: z.string().optional(), circuitBreakerCacheSize: integer.optional() })).default({}),
      components: z.record(z.string(), z.strictObject({ inbound: policyNamesSchema.optional(), outbound: policyNamesSchema.optional() })).default({}),
    })
    .default({ apps: {}, actors: {}, components: {} }),
});

export type RetrySpec = z.infer<typeof retrySchema>;
export type CircuitBreakerSpec = z.infer<typeof circuitBreakerSchema>;
export type PolicyNames = z.infer<typeof policyNamesSchema>;

export interface NamedPolicies {
  timeouts: Map<string, number>;
  retries: Map<string, RetrySpec>;
  circuitBreakers: Map<string, CircuitBreakerSpec>;
}

export interface ResiliencyTargets {
  apps: Map<string, PolicyNames>;
  components: Map<string, { inbound: PolicyNames; outbound: PolicyNames }>;
}

export interface ResiliencyConfig {
  policies: NamedPolicies;
  targets: ResiliencyTargets;
}

type TargetReference = readonly [resource: ResiliencySpec, where: string, names: PolicyNames];

/** Merges every Resiliency resource (later ones override same-named policies and targets, as daprd does). */
export function parseResiliencySpecs(specs: readonly ResiliencySpec[]): ResiliencyConfig {
  const config: ResiliencyConfig = {
    policies: { timeouts: new Map(), retries: new Map(), circuitBreakers: new Map() },
    targets: { apps: new Map(), components: new Map() },
  };
  const references: TargetReference[] = [];
  for (const resource of specs) {
    const result = specSchema.safeParse(resource.spec);
    if (!result.success) {
      const issues = result.error.issues.map((issue) => `spec.${issue.path.join('.')}: ${issue.message}`).join('; ');
      throw new ResiliencyConfigError(`Resiliency ${resource.name} (${resource.file}): ${issues}`);
    }
    const { policies, targets } = result.data;
    for (const [name, ms] of Object.entries(policies.timeouts)) config.policies.timeouts.set(name, ms);
    for (const [name, retry] of Object.entries(policies.retries)) config.policies.retries.set(name, retry);
    for (const [name, breaker] of Object.entries(policies.circuitBreakers)) config.policies.circuitBreakers.set(name, breaker);
    for (const [name, names] of Object.entries(targets.apps)) {
      config.targets.apps.set(name, names);
      references.push([resource, `targets.apps.${name}`, names]);
    }
    for (const [name, names] of Object.entries(targets.actors)) references.push([resource, `targets.actors.${name}`, names]);
    for (const [name, { inbound = {}, outbound = {} }] of Object.entries(targets.components)) {
      config.targets.components.set(name, { inbound, outbound });
      references.push([resource, `targets.components.${name}.inbound`, inbound], [resource, `targets.components.${name}.outbound`, outbound]);
    }
  }
  for (const reference of references) checkReference(reference, config.policies);
  return config;
}

/** A target naming a policy that no Resiliency resource defines stops the start (daprd would silently apply none). */
function checkReference([resource, where, names]: TargetReference, policies: NamedPolicies): void {
  const missing = [
    names.timeout !== undefined && !policies.timeouts.has(names.timeout) ? `timeout policy "${names.timeout}"` : undefined,
    names.retry !== undefined && !policies.retries.has(names.retry) ? `retry policy "${names.retry}"` : undefined,
    names.circuitBreaker !== undefined && !policies.circuitBreakers.has(names.circuitBreaker) ? `circuit breaker policy "${names.circuitBreaker}"` : undefined,
  ].filter((entry) => entry !== undefined);
  if (missing.length > 0) {
    throw new ResiliencyConfigError(`Resiliency ${resource.name} (${resource.file}): spec.${where} refers to unknown ${missing.join(', ')}`);
  }
}
