import { envField, parseEnv, subgraphEnvSchema, type SubgraphEnv } from '@agora/service';

const schema = subgraphEnvSchema.extend({ PORT: envField.port(4004) });

export const loadEnv = (source: NodeJS.ProcessEnv): SubgraphEnv => parseEnv(schema, source);
