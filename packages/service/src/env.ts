import { z } from 'zod';

/** Thrown at start when the environment does not match an app's schema. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses an environment against a zod object schema and throws one error that names
 * every bad variable with the form it expects, so a misconfigured app exits at once.
 */
export function parseEnv<T extends z.ZodObject>(schema: T, source: NodeJS.ProcessEnv): z.infer<T> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const given = issue.path.length === 1 ? source[String(issue.path[0])] : undefined;
    const got = given === undefined ? 'it is not set' : `got ${JSON.stringify(given)}`;
    return `  ${name}: ${issue.message} (${got})`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

const booleanString = z
  .enum(['true', 'false', '1', '0'], { message: 'expected true or false' })
  .transform((value) => value === 'true' || value === '1');

/** Environment variable forms shared by every app. */
export const envField = {
  port: (fallback: number) =>
    z.coerce.number({ message: 'expected a TCP port number' }).int().min(0).max(65535).default(fallback),
  host: () => z.string().min(1).default('127.0.0.1'),
  url: (what: string) => z.url({ message: `expected ${what}` }),
  boolean: (fallback: boolean) => booleanString.default(fallback),
  count: (fallback: number) => z.coerce.number({ message: 'expected a whole number' }).int().min(0).default(fallback),
  nodeEnv: () =>
    z.enum(['development', 'production', 'test'], { message: 'expected development, production or test' }).default('development'),
  logLevel: () =>
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'expected a pino level (info, debug, ...)' }).default('info'),
};
