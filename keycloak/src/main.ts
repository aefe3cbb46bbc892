import { z } from 'zod';
import { startOidcProvider, type RunningOidcProvider } from './provider.ts';
import { bundledRealmFile } from './realm.ts';

const envSchema = z.object({
  PORT: z
    .string()
    .regex(/^\d+$/, 'must be a whole number between 0 and 65535 (0 picks a free port)')
    .transform(Number)
    .refine((port) => port <= 65535, 'must be a whole number between 0 and 65535 (0 picks a free port)')
    .default(8080),
  HOST: z.string().min(1, 'must be a host name or IP address to listen on, e.g. 127.0.0.1').default('127.0.0.1'),
  REALM_FILE: z.string().min(1, 'must be the path of a Keycloak realm export (JSON)').default(bundledRealmFile),
});

type Env = z.infer<typeof envSchema>;

function readEnv(env: NodeJS.ProcessEnv): Env {
  const parsed = envSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message} (got ${JSON.stringify(env[String(issue.path[0])])})`);
  throw new Error(`invalid environment: ${problems.join('; ')}`);
}

function stopOn(signals: readonly NodeJS.Signals[], oidc: RunningOidcProvider): void {
  let stopping = false;
  const stop = (): void => {
    // A second signal means the user wants out now, graceful or not.
    if (stopping) process.exit(1);
    stopping = true;
    oidc.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const signal of signals) process.on(signal, stop);
}

async function main(): Promise<void> {
  const env = readEnv(process.env);
  const oidc = await startOidcProvider({ realmFile: env.REALM_FILE, host: env.HOST, port: env.PORT });
  stopOn(['SIGTERM', 'SIGINT'], oidc);
  process.stdout.write(`oidc provider ready: ${oidc.issuer}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
