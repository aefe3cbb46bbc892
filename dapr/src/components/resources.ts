import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';

// Loads the Dapr resource files (Component, Subscription, Resiliency) from resources paths,
// as daprd's --resources-path does: every *.yaml/*.yml, several documents per file, `scopes`
// limiting a resource to the listed app ids (none = every app).

const metadataItem = z.object({
  name: z.string().min(1),
  value: z.union([z.string(), z.number(), z.boolean()]).transform(String).optional(),
  secretKeyRef: z.object({ name: z.string().min(1), key: z.string().optional() }).optional(),
});
export type MetadataItem = z.infer<typeof metadataItem>;

const componentSchema = z.object({
  kind: z.literal('Component'),
  metadata: z.object({ name: z.string().min(1) }),
  spec: z.object({
    type: z.string().min(1),
    version: z.string().default('v1'),
    ignoreErrors: z.boolean().default(false),
    metadata: z.array(metadataItem).nullish().transform((items) => items ?? []),
  }),
  auth: z.object({ secretStore: z.string().min(1) }).optional(),
  scopes: z.array(z.string()).default([]),
});

const ruleSchema = z.object({ match: z.string().default(''), path: z.string().min(1) });
const subscriptionSchema = z.object({
  kind: z.literal('Subscription'),
  apiVersion: z.string(),
  metadata: z.object({ name: z.string().min(1) }),
  spec: z.object({
    pubsubname: z.string().min(1),
    topic: z.string().min(1),
    route: z.string().optional(),
    routes: z.object({ rules: z.array(ruleSchema).default([]), default: z.string().optional() }).optional(),
    deadLetterTopic: z.string().optional(),
    metadata: z.record(z.string(), z.string()).default({}),
  }),
  scopes: z.array(z.string()).default([]),
});

const resiliencySchema = z.object({
  kind: z.literal('Resiliency'),
  metadata: z.object({ name: z.string().min(1) }),
  spec: z.record(z.string(), z.unknown()),
  scopes: z.array(z.string()).default([]),
});

export interface ComponentSpec {
  name: string;
  type: string;
  version: string;
  metadata: MetadataItem[];
  /** Secret store that `secretKeyRef`s in the metadata refer to (default: `kubernetes` in daprd; here required). */
  secretStore: string | undefined;
  file: string;
}

export interface SubscriptionSpec {
  name: string;
  pubsubName: string;
  topic: string;
  /** Rules in order; the first whose CEL `match` is true wins. */
  rules: { match: string; path: string }[];
  defaultRoute: string | undefined;
  deadLetterTopic: string | undefined;
  metadata: Record<string, string>;
  file: string;
}

export interface ResiliencySpec {
  name: string;
  spec: Record<string, unknown>;
  file: string;
}

export interface Resources {
  components: ComponentSpec[];
  subscriptions: SubscriptionSpec[];
  resiliencies: ResiliencySpec[];
}

export class ResourceError extends Error {
  override name = 'ResourceError';
}

const inScope = (scopes: string[], appId: string) => scopes.length === 0 || scopes.includes(appId);

function yamlFiles(path: string): string[] {
  if (!statSync(path, { throwIfNoEntry: false })) throw new ResourceError(`resources path ${path} does not exist`);
  if (statSync(path).isFile()) return [path];
  return readdirSync(path)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(path, name));
}

export function loadResources(paths: readonly string[], appId: string): Resources {
  const resources: Resources = { components: [], subscriptions: [], resiliencies: [] };
  for (const file of paths.flatMap(yamlFiles)) {
    for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (document.errors.length > 0) throw new ResourceError(`${file}: ${document.errors[0]?.message ?? 'invalid YAML'}`);
      const raw = document.toJS() as { kind?: unknown } | null;
      if (!raw || typeof raw !== 'object') continue;
      const parse = <T>(schema: z.ZodType<T>): T => {
        const result = schema.safeParse(raw);
        if (!result.success) {
          throw new ResourceError(`${file}: invalid ${String(raw.kind)}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        }
        return result.data;
      };
      switch (raw.kind) {
        case 'Component': {
          const component = parse(componentSchema);
          if (!inScope(component.scopes, appId)) break;
          resources.components.push({
            name: component.metadata.name,
            type: component.spec.type,
            version: component.spec.version,
            metadata: component.spec.metadata,
            secretStore: component.auth?.secretStore,
            file,
          });
          break;
        }
        case 'Subscription': {
          const subscription = parse(subscriptionSchema);
          if (!inScope(subscription.scopes, appId)) break;
          const { spec } = subscription;
          resources.subscriptions.push({
            name: subscription.metadata.name,
            pubsubName: spec.pubsubname,
            topic: spec.topic,
            rules: spec.routes?.rules ?? [],
            defaultRoute: spec.routes?.default ?? spec.route,
            deadLetterTopic: spec.deadLetterTopic,
            metadata: spec.metadata,
            file,
          });
          break;
        }
        case 'Resiliency': {
          const resiliency = parse(resiliencySchema);
          if (inScope(resiliency.scopes, appId)) resources.resiliencies.push({ name: resiliency.metadata.name, spec: resiliency.spec, file });
          break;
        }
        default:
          // Configuration and other kinds are read elsewhere (--config) or not used by a sidecar.
          break;
      }
    }
  }
  const names = new Set<string>();
  for (const component of resources.components) {
    if (names.has(component.name)) throw new ResourceError(`two components are named ${component.name} (${component.file})`);
    names.add(component.name);
  }
  return resources;
}
