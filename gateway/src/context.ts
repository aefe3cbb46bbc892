import type { Caller } from '@agora/auth';

export interface GatewayContext {
  /** Undefined for anonymous callers. */
  caller: Caller | undefined;
  /** Headers forwarded to every subgraph fetch of this request. */
  forward: Record<string, string>;
}
