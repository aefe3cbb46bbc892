import type { Logger } from '@agora/service';
import type { Resources } from './components/resources.ts';
import type { PubSub } from './pubsub/pubsub.ts';
import type { Resiliency } from './resiliency/resiliency.ts';
import type { SecretStore } from './secrets/secret-store.ts';
import type { StateStore } from './state/state-store.ts';

export interface AppAddress {
  host: string;
  /** Undefined when the sidecar runs without an app (no app channel). */
  port: number | undefined;
}

/** Everything the sidecar's APIs share: identity, the app channel address, loaded components. */
export interface SidecarContext {
  appId: string;
  app: AppAddress;
  logger: Logger;
  resources: Resources;
  stateStores: Map<string, StateStore>;
  pubsubs: Map<string, PubSub>;
  secretStores: Map<string, SecretStore>;
  /** Each loaded component's metadata with its `secretKeyRef`s resolved, by component name. */
  componentMetadata: Map<string, Record<string, string>>;
  /** HTTP origins of the sidecars of other apps of the same launch, by app id. */
  peers: Map<string, string>;
  /** Retry, timeout and circuit-breaker policies from the Resiliency resources. */
  resiliency: Resiliency;
  /** Resolves when the app answers on its port (deliveries wait for it). */
  appReady: () => Promise<void>;
}
