import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs to stdout; the level comes from the app's LOG_LEVEL. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { service: name }, timestamp: pino.stdTimeFunctions.isoTime });
}
