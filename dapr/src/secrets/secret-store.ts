import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** A Dapr secret store: a secret is a map of keys to values (one key for env and flat files). */
export interface SecretStore {
  get(name: string): Promise<Record<string, string> | undefined>;
  bulk(): Promise<Record<string, Record<string, string>>>;
  close(): Promise<void>;
}

/** secretstores.local.env: secrets are the sidecar's environment variables (optionally under a prefix). */
export function localEnvSecretStore(metadata: Record<string, string>, env: NodeJS.ProcessEnv): SecretStore {
  const prefix = metadata['prefix'] ?? '';
  const lookup = (name: string) => env[`${prefix}${name}`];
  return {
    get: async (name) => {
      const value = lookup(name);
      return value === undefined ? undefined : { [name]: value };
    },
    bulk: async () =>
      Object.fromEntries(
        Object.entries(env)
          .filter((entry): entry is [string, string] => entry[0].startsWith(prefix) && entry[1] !== undefined)
          .map(([key, value]) => {
            const name = key.slice(prefix.length);
            return [name, { [name]: value }];
          }),
      ),
    close: async () => undefined,
  };
}

/**
 * secretstores.local.file: a JSON file; nested objects are flattened with `nestedSeparator`
 * (default ":"), as daprd does, unless `multiValued` keeps the first level as secret names.
 */
export function localFileSecretStore(metadata: Record<string, string>, baseDir: string): SecretStore {
  const path = metadata['secretsFile'];
  if (!path) throw new Error('secretstores.local.file needs the secretsFile metadata');
  const separator = metadata['nestedSeparator'] ?? ':';
  const multiValued = metadata['multiValued'] === 'true';
  const content = JSON.parse(readFileSync(isAbsolute(path) ? path : resolve(baseDir, path), 'utf8')) as unknown;

  const flatten = (value: unknown, prefix: string, out: Record<string, string>) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}${separator}${key}` : key, out);
    } else {
      out[prefix] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    return out;
  };
  const secrets: Record<string, Record<string, string>> = {};
  if (multiValued && content && typeof content === 'object') {
    for (const [name, value] of Object.entries(content)) secrets[name] = flatten(value, '', {});
  } else {
    for (const [name, value] of Object.entries(flatten(content, '', {}))) secrets[name] = { [name]: value };
  }
  return {
    get: async (name) => secrets[name],
    bulk: async () => secrets,
    close: async () => undefined,
  };
}
