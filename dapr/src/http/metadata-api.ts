import type { FastifyInstance } from 'fastify';
import type { AppChannel } from '../app-channel/app-channel.ts';
import type { SidecarContext } from '../context.ts';

export const RUNTIME_VERSION = 'agora-local-1.0';

/**
 * GET /v1.0/metadata in daprd's shape; the SDK's DaprClient polls it to know the sidecar is up.
 * `resiliency` is an Agora extension (daprd has no such field; it exposes breaker state only as the
 * `dapr_resiliency_cb_state` metric): the circuit breakers made so far, for the service health
 * report (docs/adr/0017-service-health-report.md). Clients must treat its absence as "not reported".
 */
export function registerMetadataApi(app: FastifyInstance, context: SidecarContext, channel: AppChannel): void {
  const extended = new Map<string, string>();
  app.get('/v1.0/metadata', async () => ({
    id: context.appId,
    runtimeVersion: RUNTIME_VERSION,
    enabledFeatures: [],
    actors: [],
    components: context.resources.components.map((component) => ({
      name: component.name,
      type: component.type,
      version: component.version,
      capabilities: capabilitiesOf(component.type),
    })),
    // daprd's JSON leaves out empty metadata, rules and rule members (omitempty).
    subscriptions: channel.subscriptions().map((subscription) => ({
      pubsubname: subscription.pubsubname,
      topic: subscription.topic,
      ...(Object.keys(subscription.metadata).length > 0 ? { metadata: subscription.metadata } : {}),
      ...(subscription.rules.length > 0 ? { rules: subscription.rules.map(({ match, path }) => ({ ...(match ? { match } : {}), ...(path ? { path } : {}) })) } : {}),
      deadLetterTopic: subscription.deadLetterTopic ?? '',
      type: subscription.type,
    })),
    httpEndpoints: [],
    extended: Object.fromEntries(extended),
    appConnectionProperties: context.app.port === undefined ? {} : { port: context.app.port, protocol: 'http', channelAddress: context.app.host },
    resiliency: { circuitBreakers: context.resiliency.circuitBreakers() },
  }));
  app.put<{ Params: { key: string } }>('/v1.0/metadata/:key', async (request, reply) => {
    extended.set(request.params.key, Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '');
    return reply.code(204).send();
  });
}

function capabilitiesOf(type: string): string[] {
  if (type === 'state.in-memory' || type === 'state.redis' || type === 'state.postgresql') {
    return type === 'state.in-memory' ? ['ETAG', 'TRANSACTIONAL', 'TTL'] : ['ETAG', 'TRANSACTIONAL', 'TTL', ...(type === 'state.postgresql' ? ['ACTOR'] : [])];
  }
  return [];
}
