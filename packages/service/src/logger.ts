import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { hasRole, Role, type Caller } from '@agora/auth';
import { activeTraceIds } from '@agora/telemetry';

export type { Logger };

// JSON logs: one object per line with the service name, the trace_id and span_id of the active
// span (so a line leads to its trace), and personal data masked wherever it is logged.

/** a***e@agora.test, +33*****78: enough to tell addresses apart in logs, not to use one. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at > 0) {
    const local = address.slice(0, at);
    const maskedLocal = local.length <= 2 ? `${local[0] ?? ''}*` : `${local[0] ?? ''}${'*'.repeat(Math.min(local.length - 2, 6))}${local.at(-1) ?? ''}`;
    return `${maskedLocal}${address.slice(at)}`;
  }
  if (address.length <= 4) return '*'.repeat(address.length);
  return `${address.slice(0, 3)}${'*'.repeat(address.length - 5)}${address.slice(-2)}`;
}

const EMAIL = /[\w.+-]+@[\w-]+(\.[\w-]+)+/g;

/** Every email address in a text masked (error messages quote the values a constraint refused). */
export const maskEmails = (text: string): string => text.replace(EMAIL, (address) => maskAddress(address));

// Masked by name at the top level and two levels down (pino's redact paths have no deep wildcard).
const EMAIL_FIELDS = ['email'];
const NAME_FIELDS = ['username', 'firstName', 'lastName', 'fullName', 'displayName', 'givenName', 'familyName', 'customerName'];
const REMOVED_FIELDS = [
  // payment details
  'paymentMethod',
  'card',
  'cardNumber',
  'pan',
  'cvc',
  'cvv',
  'iban',
  // credentials
  'authorization',
  'cookie',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'clientSecret',
];
const REDACTED = '[REDACTED]';

const pathsOf = (fields: string[]) => fields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);
const emailFields = new Set(EMAIL_FIELDS);
const nameFields = new Set(NAME_FIELDS);

function censor(value: unknown, path: string[]): unknown {
  const field = path.at(-1) ?? '';
  if (value === null || value === undefined) return value;
  if (emailFields.has(field)) return typeof value === 'string' ? maskAddress(value) : REDACTED;
  if (nameFields.has(field)) return typeof value === 'string' && value.length > 0 ? `${value[0] ?? ''}***` : REDACTED;
  return REDACTED;
}

/** pino's redaction of personal data and secrets, and error messages with their email addresses masked. */
export const privacyOptions: Pick<LoggerOptions, 'redact' | 'serializers'> = {
  redact: { paths: pathsOf([...EMAIL_FIELDS, ...NAME_FIELDS, ...REMOVED_FIELDS]), censor },
  serializers: {
    // `err` may be anything that was thrown or passed (a string, a plain object): never let logging throw.
    err: (error: unknown) => {
      if (!(error instanceof Error)) return typeof error === 'string' ? { message: maskEmails(error) } : error;
      const serialized = pino.stdSerializers.err(error);
      return { ...serialized, message: maskEmails(serialized.message), ...(serialized.stack ? { stack: maskEmails(serialized.stack) } : {}) };
    },
  },
};

/** JSON logs, to stdout unless a destination is given; the level comes from the app's LOG_LEVEL. */
export function createLogger(name: string, level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => activeTraceIds() ?? {},
    ...privacyOptions,
  };
  return destination ? pino(options, destination) : pino(options);
}

export type AuditOutcome = 'allowed' | 'denied' | 'succeeded' | 'failed';

export interface AuditEvent {
  /** What was done, service-qualified: `inventory.restockProduct`, `orders.sagas.read`. */
  action: string;
  outcome: AuditOutcome;
  /** Who: logged as `sub` and roles, never by name or token. Absent for the system itself. */
  actor?: Caller | undefined;
  /** What it was done to: `order:<id>`, `product:<id>`. */
  resource?: string | undefined;
  [detail: string]: unknown;
}

/**
 * The audit log of sensitive operations (admin mutations, refunds, role-restricted reads): lines
 * with `audit: true`, written at `info` whatever LOG_LEVEL says (unless logging is silent), so a
 * log pipeline can route them to their own store.
 */
export function audit(log: Logger, event: AuditEvent): void {
  const { action, outcome, actor, resource, ...details } = event;
  const auditLog = log.child({ audit: true }, { level: log.level === 'silent' ? 'silent' : 'info' });
  auditLog.info(
    {
      action,
      outcome,
      actor: actor ? { sub: actor.sub, roles: [...actor.roles], admin: hasRole(actor, Role.ADMIN) } : { sub: 'system' },
      ...(resource !== undefined ? { resource } : {}),
      ...details,
    },
    `audit: ${action} ${outcome}`,
  );
}
