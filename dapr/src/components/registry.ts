import { dirname } from 'node:path';
import type { Logger } from '@agora/service';
import { pubsubFactories } from '../pubsub/factories.ts';
import { localEnvSecretStore, localFileSecretStore, type SecretStore } from '../secrets/secret-store.ts';
import { stateStoreFactories } from '../state/factories.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import type { StateStore } from '../state/state-store.ts';
import type { ComponentSpec } from './resources.ts';
import { ResourceError } from './resources.ts';

/** What a component factory gets: its name, its metadata with secrets resolved, and the app. */
export interface ComponentInput {
  name: string;
  metadata: Record<string, string>;
  appId: string;
  /** Folder of the component's file, for relative paths in its metadata. */
  baseDir: string;
  logger: Logger;
  /** The sidecar's environment (secretstores.local.env reads it). */
  env: NodeJS.ProcessEnv;
}

export type ComponentFactory<T> = (input: ComponentInput) => Promise<T>;

const secretStoreFactories: Record<string, ComponentFactory<SecretStore>> = {
  'secretstores.local.env': async ({ metadata, env }) => localEnvSecretStore(metadata, env),
  'secretstores.local.file': async ({ metadata, baseDir }) => localFileSecretStore(metadata, baseDir),
};

export const supportedComponentTypes = (): string[] =>
  [...Object.keys(secretStoreFactories), ...Object.keys(stateStoreFactories), ...Object.keys(pubsubFactories)].sort();

/** The state store marked `actorStateStore: "true"`, with its resolved metadata (the workflow engine's storage). */
export interface ActorStateStore {
  name: string;
  type: string;
  metadata: Record<string, string>;
}

export interface Components {
  stateStores: Map<string, StateStore>;
  actorStateStore: ActorStateStore | undefined;
  pubsubs: Map<string, PubSub>;
  secretStores: Map<string, SecretStore>;
  /** Each loaded component's metadata with its `secretKeyRef`s resolved, by component name. */
  metadata: Map<string, Record<string, string>>;
  close(): Promise<void>;
}

/**
 * Builds every component of the app. Secret stores come first, since other components'
 * `secretKeyRef`s read from them. A type this sidecar does not implement stops the start.
 */
export async function buildComponents(specs: readonly ComponentSpec[], appId: string, logger: Logger, env: NodeJS.ProcessEnv): Promise<Components> {
  for (const spec of specs) {
    if (!(spec.type in secretStoreFactories || spec.type in stateStoreFactories || spec.type in pubsubFactories)) {
      throw new ResourceError(
        `component ${spec.name} (${spec.file}) has type ${spec.type}, which the local sidecar does not support; supported types: ${supportedComponentTypes().join(', ')}`,
      );
    }
  }
  const components: Components = {
    stateStores: new Map(),
    actorStateStore: undefined,
    pubsubs: new Map(),
    secretStores: new Map(),
    metadata: new Map(),
    async close() {
      const all = [...this.pubsubs.values(), ...this.stateStores.values(), ...this.secretStores.values()];
      await Promise.allSettled(all.map((component) => component.close()));
    },
  };
  try {
    const inputFor = async (spec: ComponentSpec): Promise<ComponentInput> => {
      const metadata = await resolveMetadata(spec, components.secretStores);
      components.metadata.set(spec.name, metadata);
      return { name: spec.name, metadata, appId, baseDir: dirname(spec.file), logger: logger.child({ component: spec.name }), env };
    };
    for (const spec of specs) {
      const create = secretStoreFactories[spec.type];
      if (create) components.secretStores.set(spec.name, await create(await inputFor(spec)));
    }
    for (const spec of specs) {
      const createState = stateStoreFactories[spec.type];
      if (createState) {
        const input = await inputFor(spec);
        components.stateStores.set(spec.name, await createState(input));
        const actorMetadata = Object.entries(input.metadata).find(([key]) => key.toLowerCase() === 'actorstatestore')?.[1];
        if (actorMetadata?.toLowerCase() === 'true') {
          if (components.actorStateStore) throw new ResourceError(`component ${spec.name} (${spec.file}): only one state store may set actorStateStore; ${components.actorStateStore.name} already does`);
          components.actorStateStore = { name: spec.name, type: spec.type, metadata: input.metadata };
        }
      }
      const createPubSub = pubsubFactories[spec.type];
      if (createPubSub) components.pubsubs.set(spec.name, await createPubSub(await inputFor(spec)));
    }
    return components;
  } catch (error) {
    await components.close();
    throw error;
  }
}

async function resolveMetadata(spec: ComponentSpec, secretStores: Map<string, SecretStore>): Promise<Record<string, string>> {
  const resolved: Record<string, string> = {};
  for (const item of spec.metadata) {
    if (!item.secretKeyRef) {
      resolved[item.name] = item.value ?? '';
      continue;
    }
    const storeName = spec.secretStore;
    const store = storeName ? secretStores.get(storeName) : undefined;
    if (!storeName || !store) {
      throw new ResourceError(`component ${spec.name} (${spec.file}): metadata ${item.name} refers to a secret, but its auth.secretStore ${storeName ?? '(unset)'} is not a loaded secret store`);
    }
    const secret = await store.get(item.secretKeyRef.name);
    const value = secret?.[item.secretKeyRef.key ?? item.secretKeyRef.name];
    if (value === undefined) {
      throw new ResourceError(
        `component ${spec.name} (${spec.file}): metadata ${item.name}: secret ${item.secretKeyRef.name}${item.secretKeyRef.key ? `/${item.secretKeyRef.key}` : ''} is not in secret store ${storeName}`,
      );
    }
    resolved[item.name] = value;
  }
  return resolved;
}
