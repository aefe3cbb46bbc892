import type { FastifyInstance, FastifyReply } from 'fastify';
import type { SidecarContext } from '../context.ts';
import { sendDaprError } from '../http/dapr-error.ts';
import type { SecretStore } from './secret-store.ts';

// The Dapr secrets HTTP API (/v1.0/secrets), with daprd's status codes: 500 when no secret store is
// loaded, 401 ERR_SECRET_STORE_NOT_FOUND for an unknown store (daprd's code; its docs say 400).

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

type Lookup = { store: SecretStore } | { failed: FastifyReply };

function lookup(context: SidecarContext, reply: FastifyReply, storeName: string): Lookup {
  if (context.secretStores.size === 0) {
    return { failed: sendDaprError(reply, 500, 'ERR_SECRET_STORES_NOT_CONFIGURED', 'secret store is not configured') };
  }
  const store = context.secretStores.get(storeName);
  if (!store) return { failed: sendDaprError(reply, 401, 'ERR_SECRET_STORE_NOT_FOUND', `failed finding secret store with key ${storeName}`) };
  return { store };
}

/** daprd's env store answers an unset variable with an empty value; stores that know their secrets fail instead. */
function answersMissingAsEmpty(context: SidecarContext, storeName: string): boolean {
  return context.resources.components.some((component) => component.name === storeName && component.type === 'secretstores.local.env');
}

export function registerSecretsApi(app: FastifyInstance, context: SidecarContext): void {
  app.get<{ Params: { store: string } }>('/v1.0/secrets/:store/bulk', async (request, reply) => {
    const { store: storeName } = request.params;
    const found = lookup(context, reply, storeName);
    if ('failed' in found) return found.failed;
    let secrets: Record<string, Record<string, string>>;
    try {
      secrets = await found.store.bulk();
    } catch (error) {
      return sendDaprError(reply, 500, 'ERR_SECRET_GET', `failed getting secrets from secret store ${storeName}: ${errorText(error)}`);
    }
    return reply.code(200).type('application/json').send(secrets);
  });

  app.get<{ Params: { store: string; name: string } }>('/v1.0/secrets/:store/:name', async (request, reply) => {
    const { store: storeName, name } = request.params;
    const found = lookup(context, reply, storeName);
    if ('failed' in found) return found.failed;
    const fail = (detail: string) => sendDaprError(reply, 500, 'ERR_SECRET_GET', `failed getting secret with key ${name} from secret store ${storeName}: ${detail}`);
    let secret: Record<string, string> | undefined;
    try {
      secret = await found.store.get(name);
    } catch (error) {
      return fail(errorText(error));
    }
    if (secret) return reply.code(200).type('application/json').send(secret);
    if (answersMissingAsEmpty(context, storeName)) return reply.code(200).type('application/json').send({ [name]: '' });
    return fail(`secret ${name} not found`);
  });
}
