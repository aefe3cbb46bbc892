import { SpanKind } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { SidecarContext } from '../context.ts';
import { DaprApiError, sendDaprError } from '../http/dapr-error.ts';
import { contextFrom, endSpan, startSpan } from '../tracing.ts';
import {
  EtagInvalidError,
  EtagMismatchError,
  type Concurrency,
  type SetOperation,
  type StateStore,
  type StoredState,
  type TransactionOperation,
} from './state-store.ts';

// The Dapr state HTTP API (/v1.0/state), as daprd's pkg/api/http: key prefixes, request parsing,
// and daprd's status codes and error codes. Stores only store. Each call is a client span named
// and described as daprd's (the request path; db.system "state", db.name the store).

const KEY_SEPARATOR = '||';
const METADATA_PREFIX = 'metadata.';
const MAX_TTL_SECONDS = 2_147_483_647;

const malformed = (message: string) => new DaprApiError(400, 'ERR_MALFORMED_REQUEST', message);

const metadataSchema = z.record(z.string(), z.string()).nullish();
const optionsSchema = z
  .object({
    concurrency: z.enum(['first-write', 'last-write', '']).nullish(),
    consistency: z.enum(['strong', 'eventual', '']).nullish(),
  })
  .nullish();
const setRequestSchema = z.object({
  key: z.string().min(1, '"key" is a required field'),
  value: z.unknown(),
  etag: z.string().nullish(),
  options: optionsSchema,
  metadata: metadataSchema,
});
const deleteRequestSchema = setRequestSchema.omit({ value: true });
const saveBodySchema = z.array(setRequestSchema);
const bulkGetBodySchema = z.object({ keys: z.array(z.string()).nullish(), parallelism: z.number().int().nullish(), metadata: metadataSchema });
const transactionBodySchema = z.object({
  operations: z.array(z.object({ operation: z.string(), request: z.unknown() })).nullish(),
  metadata: metadataSchema,
});

type SetRequest = z.infer<typeof setRequestSchema>;
type DeleteRequest = z.infer<typeof deleteRequestSchema>;
type Query = Record<string, string | string[] | undefined>;
type StoreRequest = FastifyRequest<{ Params: { storename: string; key?: string }; Querystring: Query }>;

function parseBody<T>(body: unknown, schema: z.ZodType<T>): T {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw malformed(`failed deserializing HTTP body: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseWith(json, schema);
}

function parseWith<T>(value: unknown, schema: z.ZodType<T>): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
  throw malformed(`failed deserializing HTTP body: ${issues.join('; ')}`);
}

const firstValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** `metadata.<name>` query parameters, as daprd's getMetadataFromRequest. */
function queryMetadata(query: Query): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    const first = firstValue(value);
    if (name.startsWith(METADATA_PREFIX) && first !== undefined) metadata[name.slice(METADATA_PREFIX.length)] = first;
  }
  return metadata;
}

/** `ttlInSeconds`: a whole number from -1 (never expire) up; undefined when absent. */
function ttlOf(metadata: Record<string, string>): number | undefined {
  const text = metadata['ttlInSeconds'];
  if (text === undefined || text === '') return undefined;
  const ttl = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(ttl) || ttl < -1 || ttl > MAX_TTL_SECONDS) {
    throw malformed(`incorrect value for metadata 'ttlInSeconds': ${text}: must be a whole number, -1 or greater`);
  }
  return ttl;
}

const concurrencyOf = (value: string | null | undefined): Concurrency => (value === 'first-write' ? 'first-write' : 'last-write');

function checkOptionParam(value: string | undefined, name: string, allowed: readonly string[]): void {
  if (value && !allowed.includes(value)) throw malformed(`unrecognized ${name} model '${value}'`);
}

/** The prefix daprd's keyPrefix strategy puts before `||`; undefined for none. */
function keyPrefix(strategy: string, storeName: string, appId: string): string | undefined {
  switch (strategy) {
    case 'none':
      return undefined;
    case 'name':
      return storeName;
    case 'namespace': {
      const namespace = process.env['NAMESPACE'];
      if (namespace && appId) return `${namespace}.${appId}`;
      return appId || undefined;
    }
    case 'appid':
      return appId || undefined;
    default:
      return strategy;
  }
}

/** Maps an app's key to the store's key; daprd lower-cases the keyPrefix value (custom prefixes included). */
function keyMapperFor(context: SidecarContext, storeName: string): (key: string) => string {
  // The resolved metadata: a keyPrefix may come from a secretKeyRef.
  const metadata = context.componentMetadata.get(storeName) ?? {};
  const strategy = (Object.entries(metadata).find(([name]) => name.toLowerCase() === 'keyprefix')?.[1] || 'appid').toLowerCase();
  const prefix = keyPrefix(strategy, storeName, context.appId);
  return (key) => {
    if (key.includes(KEY_SEPARATOR)) throw malformed(`input key/keyPrefix '${key}' can't contain '${KEY_SEPARATOR}'`);
    return prefix === undefined ? key : `${prefix}${KEY_SEPARATOR}${key}`;
  };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Etag errors as daprd's stateErrorResponse: 409 for a mismatch, 400 for an etag the store cannot have made. */
function storeFailure(error: unknown, errorCode: string, describe: (detail: string) => string): DaprApiError {
  if (error instanceof DaprApiError) return error;
  if (error instanceof EtagMismatchError) return new DaprApiError(409, errorCode, describe(`possible etag mismatch. error from state store: ${error.message}`));
  if (error instanceof EtagInvalidError) return new DaprApiError(400, errorCode, describe(`invalid etag value: ${error.message}`));
  return new DaprApiError(500, errorCode, describe(errorText(error)));
}

/** daprd's RFC 3339 (seconds, UTC) form of an expiry time. */
const rfc3339 = (epochMs: number) => new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A stored value as a JSON document: itself when it is JSON text, else its bytes in base64 (as protojson shows bytes). */
function dataAsJson(value: Buffer): string | undefined {
  if (value.length === 0) return undefined;
  const text = value.toString('utf8');
  try {
    JSON.parse(text);
    if (Buffer.from(text, 'utf8').equals(value)) return text;
  } catch {
    // Not JSON: falls through to base64.
  }
  return JSON.stringify(value.toString('base64'));
}

function bulkItemJson(key: string, state: StoredState | undefined): string {
  if (!state) return JSON.stringify({ key });
  const data = dataAsJson(state.value);
  const parts = [`"key":${JSON.stringify(key)}`];
  if (data !== undefined) parts.push(`"data":${data}`);
  parts.push(`"etag":${JSON.stringify(state.etag)}`);
  if (state.expiresAt !== undefined) parts.push(`"metadata":${JSON.stringify({ ttlExpireTime: rfc3339(state.expiresAt) })}`);
  return `{${parts.join(',')}}`;
}

function toSetOperation(request: SetRequest, toStoreKey: (key: string) => string, query: Record<string, string>): SetOperation {
  // Query metadata overrides the item's own, as daprd's maps.Copy.
  const metadata = { ...request.metadata, ...query };
  return {
    key: toStoreKey(request.key),
    value: Buffer.from(JSON.stringify(request.value === undefined ? null : request.value), 'utf8'),
    etag: request.etag || undefined,
    concurrency: concurrencyOf(request.options?.concurrency),
    ttlSeconds: ttlOf(metadata),
  };
}

function toTransactionOperation(
  operation: { operation: string; request: unknown },
  toStoreKey: (key: string) => string,
  query: Record<string, string>,
): TransactionOperation {
  switch (operation.operation) {
    case 'upsert':
      return { operation: 'upsert', ...toSetOperation(parseWith(operation.request, setRequestSchema), toStoreKey, query) };
    case 'delete': {
      const request: DeleteRequest = parseWith(operation.request, deleteRequestSchema);
      return { operation: 'delete', key: toStoreKey(request.key), etag: request.etag || undefined, concurrency: concurrencyOf(request.options?.concurrency) };
    }
    default:
      throw new DaprApiError(400, 'ERR_NOT_SUPPORTED_STATE_OPERATION', `operation type ${operation.operation} not supported`);
  }
}

interface StoreTarget {
  name: string;
  store: StateStore;
  toStoreKey: (key: string) => string;
}

export function registerStateApi(app: FastifyInstance, context: SidecarContext): void {
  const keyMappers = new Map<string, (key: string) => string>();
  const targetOf = (storeName: string): StoreTarget => {
    if (context.stateStores.size === 0) throw new DaprApiError(500, 'ERR_STATE_STORE_NOT_CONFIGURED', `state store ${storeName} is not configured`);
    const store = context.stateStores.get(storeName);
    if (!store) throw new DaprApiError(400, 'ERR_STATE_STORE_NOT_FOUND', `state store ${storeName} is not found`);
    let toStoreKey = keyMappers.get(storeName);
    if (!toStoreKey) {
      toStoreKey = keyMapperFor(context, storeName);
      keyMappers.set(storeName, toStoreKey);
    }
    return { name: storeName, store, toStoreKey };
  };
  const handle =
    (run: (request: StoreRequest, reply: FastifyReply, target: StoreTarget) => Promise<FastifyReply>) =>
    async (request: StoreRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const path = request.url.split('?')[0] ?? request.url;
      const span = startSpan(path, SpanKind.CLIENT, contextFrom(request.headers), {
        'db.system': 'state',
        'db.name': request.params.storename,
        'db.statement': `${request.method} ${path}`,
        'dapr.protocol': 'http',
      });
      try {
        const answered = await run(request, reply, targetOf(request.params.storename));
        endSpan(span, { status: reply.statusCode });
        return answered;
      } catch (error) {
        if (!(error instanceof DaprApiError)) {
          endSpan(span, { error });
          throw error;
        }
        endSpan(span, { status: error.status });
        return sendDaprError(reply, error.status, error.errorCode, error.message);
      }
    };

  app.get('/v1.0/state/:storename/:key', handle(getState));
  for (const method of ['POST', 'PUT'] as const) {
    app.route({ method, url: '/v1.0/state/:storename', handler: handle(saveState) });
    app.route({ method, url: '/v1.0/state/:storename/bulk', handler: handle(bulkGetState) });
    app.route({ method, url: '/v1.0/state/:storename/transaction', handler: handle(executeTransaction) });
  }
  app.delete('/v1.0/state/:storename/:key', handle(deleteState));
}

async function getState(request: StoreRequest, reply: FastifyReply, { name, store, toStoreKey }: StoreTarget): Promise<FastifyReply> {
  const key = request.params.key ?? '';
  const state = await store.get(toStoreKey(key)).catch((error: unknown) => {
    throw new DaprApiError(500, 'ERR_STATE_GET', `fail to get ${key} from state store ${name}: ${errorText(error)}`);
  });
  if (!state) return reply.code(204).send();
  reply.header('etag', state.etag);
  if (state.expiresAt !== undefined) reply.header('metadata.ttlExpireTime', rfc3339(state.expiresAt));
  return reply.code(200).type('application/json').send(state.value);
}

async function bulkGetState(request: StoreRequest, reply: FastifyReply, { store, toStoreKey }: StoreTarget): Promise<FastifyReply> {
  const body = parseBody(request.body, bulkGetBodySchema);
  const keys = body.keys ?? [];
  const storeKeys = keys.map(toStoreKey);
  const found = keys.length === 0 ? new Map<string, StoredState>() : await store.bulkGet(storeKeys).catch((error: unknown) => {
    throw new DaprApiError(500, 'ERR_STATE_BULK_GET', errorText(error));
  });
  const items = keys.map((key, index) => bulkItemJson(key, found.get(storeKeys[index] ?? '')));
  return reply.code(200).type('application/json').send(`[${items.join(',')}]`);
}

async function saveState(request: StoreRequest, reply: FastifyReply, { name, store, toStoreKey }: StoreTarget): Promise<FastifyReply> {
  const items = parseBody(request.body, saveBodySchema);
  if (items.length === 0) return reply.code(204).send();
  const query = queryMetadata(request.query);
  const operations = items.map((item) => toSetOperation(item, toStoreKey, query));
  // daprd sets a list's items one by one and keeps those that succeeded; here a list is one transaction, all or nothing.
  const [single] = operations;
  const saving = operations.length === 1 && single ? store.set(single) : store.transaction(operations.map((operation) => ({ operation: 'upsert' as const, ...operation })));
  await saving.catch((error: unknown) => {
    throw storeFailure(error, 'ERR_STATE_SAVE', (detail) => `failed saving state in state store ${name}: ${detail}`);
  });
  return reply.code(204).send();
}

async function deleteState(request: StoreRequest, reply: FastifyReply, { store, toStoreKey }: StoreTarget): Promise<FastifyReply> {
  const key = request.params.key ?? '';
  const concurrency = firstValue(request.query['concurrency']);
  checkOptionParam(concurrency, 'concurrency', ['first-write', 'last-write']);
  checkOptionParam(firstValue(request.query['consistency']), 'consistency', ['strong', 'eventual']);
  const ifMatch = request.headers['if-match'];
  await store.delete({ key: toStoreKey(key), etag: ifMatch || undefined, concurrency: concurrencyOf(concurrency) }).catch((error: unknown) => {
    throw storeFailure(error, 'ERR_STATE_DELETE', (detail) => `failed deleting state with key ${key}: ${detail}`);
  });
  return reply.code(204).send();
}

async function executeTransaction(request: StoreRequest, reply: FastifyReply, { store, toStoreKey }: StoreTarget): Promise<FastifyReply> {
  const body = parseBody(request.body, transactionBodySchema);
  const requested = body.operations ?? [];
  if (requested.length === 0) return reply.code(204).send();
  const query = queryMetadata(request.query);
  const operations = requested.map((operation) => toTransactionOperation(operation, toStoreKey, query));
  // daprd answers every failed transaction, etag mismatches included, with 500 ERR_STATE_TRANSACTION.
  await store.transaction(operations).catch((error: unknown) => {
    throw new DaprApiError(500, 'ERR_STATE_TRANSACTION', `error while executing state transaction: ${errorText(error)}`);
  });
  return reply.code(204).send();
}
