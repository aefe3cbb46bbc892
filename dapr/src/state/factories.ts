import type { ComponentFactory } from '../components/registry.ts';
import { createInMemoryStateStore } from './in-memory.ts';
import { createPostgresStateStore } from './postgresql.ts';
import { createRedisStateStore } from './redis.ts';
import type { StateStore } from './state-store.ts';

/** daprd refuses to load a state store whose keyPrefix holds its key separator "||". */
const withValidKeyPrefix =
  (create: ComponentFactory<StateStore>): ComponentFactory<StateStore> =>
  async (input) => {
    const prefix = Object.entries(input.metadata).find(([name]) => name.toLowerCase() === 'keyprefix')?.[1];
    if (prefix?.includes('||')) throw new Error(`state store ${input.name}: input key/keyPrefix '${prefix}' can't contain '||'`);
    return create(input);
  };

/** State store component types by `spec.type`. */
export const stateStoreFactories: Record<string, ComponentFactory<StateStore>> = {
  'state.in-memory': withValidKeyPrefix(createInMemoryStateStore),
  'state.postgresql': withValidKeyPrefix(createPostgresStateStore),
  'state.redis': withValidKeyPrefix(createRedisStateStore),
};
