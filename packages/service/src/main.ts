import { shutdownTelemetry } from '@agora/telemetry';
import { ConfigError } from './env.ts';

export interface Stoppable {
  stop(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Runs an app's entry point: a configuration error or a failed start exits non-zero with
 * the reason; SIGTERM/SIGINT stop the app gracefully, and a stop that hangs is cut short.
 */
export async function runMain(name: string, start: () => Promise<Stoppable>): Promise<void> {
  let app: Stoppable;
  try {
    app = await start();
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`${name}: failed to start: ${message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => {
      process.stderr.write(`${name}: shutdown took longer than ${SHUTDOWN_GRACE_MS} ms; exiting\n`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    // Telemetry last, so that the spans of the shutdown itself are exported too.
    app.stop().then(
      () => shutdownTelemetry().then(() => process.exit(0)),
      (error: unknown) => {
        process.stderr.write(`${name}: error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
