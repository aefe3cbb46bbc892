import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bindMounts,
  checkAppEnv,
  isReadElsewhere,
  parseFlags,
  readCompose,
  readDaprResources,
  readRunFile,
  readText,
  readYaml,
  repoPath,
  serviceCommand,
  serviceEnvironment,
  serviceImage,
  sidecarSecretNames,
  type ComposeFile,
  type ComposeService,
} from './support.ts';

/** The Compose Specification schema as the npm package dclint ships it (pinned in deploy/package.json). */
function composeSchemaValidator(): ValidateFunction {
  const require = createRequire(import.meta.url);
  const schemaPath = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  // The schema's draft-07 `$schema` is the https form, which ajv does not know by that name.
  delete schema['$schema'];
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
}

const runFile = readRunFile();
const sidecarOf = (appId: string) => `${appId}-dapr`;

describe('docker-compose.yml', () => {
  let compose: ComposeFile;
  let validate: ValidateFunction;
  beforeAll(() => {
    compose = readCompose();
    validate = composeSchemaValidator();
  });
  const service = (name: string): ComposeService => {
    const found = compose.services[name];
    if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
    return found;
  };

  it('is valid against the Compose Specification JSON schema', () => {
    const valid = validate(compose);
    expect(validate.errors ?? [], 'schema errors').toEqual([]);
    expect(valid).toBe(true);
  });

  it('refuses a file the specification forbids, so the schema check has teeth', () => {
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['redis'] = { ...broken.services['redis'], restart: 'sometimes', healthcheck: { test: 42 } };
    broken.services['users'] = { ...broken.services['users'], enviroment: { PORT: '4001' } };
    expect(validate(broken)).toBe(false);
    const messages = (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''}`).join('\n');
    expect(messages).toMatch(/\/services\/users .*additional properties/);
    expect(messages).toMatch(/\/services\/redis\/healthcheck\/test/);
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('runs %s from dapr/dapr.yaml with the same directory, command and port', (_id, app) => {
    const container = service(app.appID);
    expect(serviceImage(container)).toBe('agora-app:dev');
    expect(container.working_dir).toBe(`/app/${app.dir}`);
    expect(serviceCommand(container)).toEqual(app.command);
    expect(serviceEnvironment(container)['PORT']).toBe(String(app.appPort));
    expect(existsSync(repoPath(app.dir, ...(app.command[1] ?? '').split('/'))), `${app.dir}/${app.command[1] ?? ''} exists`).toBe(true);
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('gives %s a daprd sidecar whose flags agree with dapr/dapr.yaml', (_id, app) => {
    const sidecar = service(sidecarOf(app.appID));
    expect(serviceImage(sidecar)).toMatch(/^daprio\/daprd:\d+\.\d+\.\d+$/);
    expect(sidecar.network_mode).toBe(`service:${app.appID}`);
    const command = serviceCommand(sidecar);
    expect(command[0]).toBe('./daprd');
    const flags = parseFlags(command.slice(1));
    expect(flags.get('app-id')).toBe(app.appID);
    expect(flags.get('app-port')).toBe(String(app.appPort));
    expect(flags.get('app-protocol')).toBe(app.appProtocol);
    if (app.daprHTTPPort !== undefined) expect(flags.get('dapr-http-port')).toBe(String(app.daprHTTPPort));
    if (app.daprGRPCPort !== undefined) expect(flags.get('dapr-grpc-port')).toBe(String(app.daprGRPCPort));
    if (app.appHealthCheckPath !== undefined) {
      expect(flags.get('enable-app-health-check')).toBe('true');
      expect(flags.get('app-health-check-path')).toBe(app.appHealthCheckPath);
    }

    // The app reaches its own sidecar on localhost (shared network namespace) at these ports.
    const appEnv = serviceEnvironment(service(app.appID));
    expect(appEnv['APP_ID']).toBe(app.appID);
    expect(appEnv['APP_PORT']).toBe(String(app.appPort));
    expect(appEnv['DAPR_HTTP_PORT']).toBe(flags.get('dapr-http-port') ?? '3500');
    expect(appEnv['DAPR_GRPC_PORT']).toBe(flags.get('dapr-grpc-port') ?? '50001');

    // --resources-path is components/ (dapr.yaml's resourcesPath), --config a copy of dapr.yaml's config file.
    const mounts = bindMounts(sidecar);
    const resources = mounts.find((mount) => mount.target === flags.get('resources-path'));
    expect(resources?.source.replace(/^\.\//, '').replace(/\/$/, '')).toBe(runFile.resourcesPath);
    const config = mounts.find((mount) => mount.target === flags.get('config'));
    expect(config?.source).toBe('./deploy/compose/dapr-config.yaml');
    expect(mounts.every((mount) => mount.readOnly)).toBe(true);
  });

  it('connects every sidecar to the placement and scheduler services, all of one Dapr version', () => {
    const portOf = (name: string) => parseFlags(serviceCommand(service(name)).slice(1)).get('port');
    const versionOf = (name: string) => serviceImage(service(name)).split(':')[1];
    const runtime = versionOf(sidecarOf(runFile.apps[0]?.appID ?? ''));
    expect(runtime).toMatch(/^\d+\.\d+\.\d+$/);
    expect(versionOf('placement')).toBe(runtime);
    expect(versionOf('scheduler')).toBe(runtime);
    for (const app of runFile.apps) {
      const flags = parseFlags(serviceCommand(service(sidecarOf(app.appID))).slice(1));
      expect(flags.get('placement-host-address')).toBe(`placement:${portOf('placement') ?? ''}`);
      expect(flags.get('scheduler-host-address')).toBe(`scheduler:${portOf('scheduler') ?? ''}`);
      expect(versionOf(sidecarOf(app.appID))).toBe(runtime);
    }
  });

  it('gives each sidecar the secrets that components/ read from its environment', () => {
    const components = runFile.resourcesPath;
    const resources = ['pubsub.yaml', 'statestore.yaml', 'secretstore.yaml', 'resiliency.yaml'].flatMap((file) => readDaprResources(components, file));
    for (const app of runFile.apps) {
      const env = serviceEnvironment(service(sidecarOf(app.appID)));
      for (const name of sidecarSecretNames(resources, app.appID)) expect(env[name], `${sidecarOf(app.appID)} ${name}`).toBeTruthy();
    }
    const sidecarEnv = serviceEnvironment(service(sidecarOf('orders')));
    expect(sidecarEnv['AGORA_STATE_DATABASE_URL']).toBe('postgres://postgres:postgres@postgres:5432/agora_dapr');
    expect(sidecarEnv['AGORA_REDIS_HOST']).toBe('redis:6379');
  });

  it('mounts a Dapr configuration identical to dapr/config.yaml except for the collector address', () => {
    const original = readYaml(runFile.configFilePath) as { spec: { tracing: { otel: { endpointAddress: string } } } };
    const forCompose = readYaml('deploy', 'compose', 'dapr-config.yaml') as typeof original;
    expect(forCompose.spec.tracing.otel.endpointAddress).toBe('otel-collector:4317');
    expect(isDeepStrictEqual({ ...forCompose, spec: { ...forCompose.spec, tracing: { ...forCompose.spec.tracing, otel: { ...forCompose.spec.tracing.otel, endpointAddress: 'x' } } } }, {
      ...original,
      spec: { ...original.spec, tracing: { ...original.spec.tracing, otel: { ...original.spec.tracing.otel, endpointAddress: 'x' } } },
    })).toBe(true);
    expect(compose.services['otel-collector']).toBeDefined();
  });

  describe('app environment', () => {
    it.each(runFile.apps.map((app) => [app.appID, app] as const))('lets %s start: its env.ts accepts the environment and every required variable is set', async (_id, app) => {
      const env = serviceEnvironment(service(app.appID));
      const { parsed, required } = await checkAppEnv(app.dir, env);
      for (const name of required) expect(env[name], `${app.appID} requires ${name}`).toBeTruthy();
      expect(parsed['PORT']).toBe(app.appPort);
      // Reachable from Prometheus and the other containers, not only from its sidecar.
      expect(parsed['HOST']).toBe('0.0.0.0');
      expect(parsed['OIDC_ISSUER_URL']).toBe('http://keycloak:8080/realms/agora');
    });

    it.each(runFile.apps.map((app) => [app.appID, app] as const))('sets nothing for %s that no one reads', async (_id, app) => {
      const env = serviceEnvironment(service(app.appID));
      const { parsed } = await checkAppEnv(app.dir, env);
      const unread = Object.keys(env).filter((name) => !(name in parsed) && !isReadElsewhere(name));
      expect(unread).toEqual([]);
    });

    it.each(runFile.apps.map((app) => [app.appID, app] as const))('sets every variable dapr/dapr.yaml gives %s', (_id, app) => {
      const env = serviceEnvironment(service(app.appID));
      for (const name of Object.keys(app.env)) expect(Object.keys(env)).toContain(name);
      // Same database name; the host is the postgres service instead of localhost.
      const database = app.env['DATABASE_URL'];
      if (database !== undefined) expect(new URL(env['DATABASE_URL'] ?? '').pathname).toBe(new URL(database).pathname);
    });
  });

  it('creates every database the apps and the state store connect to', () => {
    const created = new Set([...readText('deploy', 'compose', 'postgres-init.sql').matchAll(/^CREATE DATABASE (\w+);$/gm)].map((match) => match[1]));
    const used = Object.values(compose.services)
      .flatMap((s) => Object.entries(serviceEnvironment(s)))
      .filter(([name, value]) => /DATABASE_URL$/.test(name) && value.startsWith('postgres://'))
      .map(([, value]) => basename(new URL(value).pathname));
    expect(used.length).toBeGreaterThan(runFile.apps.length - 1);
    for (const name of used) expect(created, name).toContain(name);
  });

  it('imports the realm file into Keycloak under the host name the apps use as issuer', () => {
    const keycloak = service('keycloak');
    expect(serviceCommand(keycloak)).toEqual(['start-dev', '--import-realm']);
    expect(bindMounts(keycloak)).toContainEqual({ source: './keycloak/agora-realm.json', target: '/opt/keycloak/data/import/agora-realm.json', readOnly: true });
    const realm = (JSON.parse(readText('keycloak', 'agora-realm.json')) as { realm: string }).realm;
    expect(`${serviceEnvironment(keycloak)['KC_HOSTNAME'] ?? ''}/realms/${realm}`).toBe('http://keycloak:8080/realms/agora');
  });

  it('mounts only files and folders that exist in the repository', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const mount of bindMounts(s).filter((m) => m.source.startsWith('.'))) expect(existsSync(repoPath(mount.source)), `${name}: ${mount.source}`).toBe(true);
    }
  });

  it('starts the observability stack with its provisioned configuration', () => {
    for (const name of ['otel-collector', 'jaeger', 'prometheus', 'loki', 'grafana']) expect(compose.services[name], name).toBeDefined();
    expect(bindMounts(service('prometheus')).map((m) => m.source)).toContain('./deploy/observability/prometheus.yml');
    expect(bindMounts(service('otel-collector')).map((m) => m.source)).toContain('./deploy/observability/otel-collector.yaml');
    expect(bindMounts(service('grafana')).map((m) => m.target)).toEqual(['/etc/grafana/provisioning', '/var/lib/grafana/dashboards']);
  });
});
