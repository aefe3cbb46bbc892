import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kustomize, KustomizeError, type Manifest } from '../src/kustomize.ts';
import { checkAppEnv, isReadElsewhere, readDaprResources, readRunFile, readYaml, repoPath, sidecarSecretNames, type DaprResource } from './support.ts';

const runFile = readRunFile();
const overlays = readdirSync(repoPath('deploy', 'k8s', 'overlays'));
const k8s = (...parts: string[]) => repoPath('deploy', 'k8s', ...parts);

interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  workingDir?: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
}
interface Deployment extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { containers: Container[]; securityContext?: { runAsNonRoot?: boolean } } };
  };
}

const find = <T extends Manifest>(manifests: Manifest[], kind: string, name: string): T => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the rendering`);
  return found as T;
};

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value);

/** A container's environment as Kubernetes resolves it from values, ConfigMaps and Secrets. */
function containerEnvironment(manifests: Manifest[], container: Container): Record<string, string> {
  const data = (kind: string, name: string): Record<string, string> => {
    const found = find<Manifest & { data?: Record<string, string>; stringData?: Record<string, string> }>(manifests, kind, name);
    return kind === 'Secret' ? { ...found.stringData } : { ...found.data };
  };
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, data('ConfigMap', source.configMapRef.name));
    if (source.secretRef) Object.assign(env, data('Secret', source.secretRef.name));
  }
  for (const { name, value, valueFrom } of container.env ?? []) {
    if (value !== undefined) env[name] = value;
    const secret = valueFrom?.secretKeyRef;
    if (secret) env[name] = data('Secret', secret.name)[secret.key] ?? expect.fail(`Secret ${secret.name} has no key ${secret.key} (${name})`);
    const config = valueFrom?.configMapKeyRef;
    if (config) env[name] = data('ConfigMap', config.name)[config.key] ?? expect.fail(`ConfigMap ${config.name} has no key ${config.key} (${name})`);
  }
  return env;
}

const components = ['pubsub.yaml', 'statestore.yaml', 'secretstore.yaml', 'resiliency.yaml'].flatMap((file) => readDaprResources(runFile.resourcesPath, file));

describe.each(overlays)('deploy/k8s/overlays/%s', (overlay) => {
  const manifests = kustomize(k8s('overlays', overlay));
  const namespace = (manifests.find((m) => m.kind === 'Namespace') ?? expect.fail('the overlay creates its namespace')).metadata.name;

  it('puts every namespaced resource in the overlay namespace', () => {
    for (const m of manifests.filter((m) => m.kind !== 'Namespace')) expect(m.metadata.namespace, `${m.kind}/${m.metadata.name}`).toBe(namespace);
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('annotates %s for the Dapr sidecar injector as dapr/dapr.yaml describes it', (_id, app) => {
    const deployment = find<Deployment>(manifests, 'Deployment', app.appID);
    const annotations = deployment.spec.template.metadata.annotations;
    const configuration = find(manifests, 'Configuration', annotations['dapr.io/config'] ?? '');
    expect(configuration.apiVersion).toBe('dapr.io/v1alpha1');
    expect(annotations).toMatchObject({
      'dapr.io/enabled': 'true',
      'dapr.io/app-id': app.appID,
      'dapr.io/app-port': String(app.appPort),
      'dapr.io/app-protocol': app.appProtocol,
      'dapr.io/enable-metrics': 'true',
      'dapr.io/enable-app-health-check': 'true',
      'dapr.io/app-health-check-path': app.appHealthCheckPath ?? '/health/ready',
    });
    // Annotation values must be strings, or the API server refuses the Deployment.
    for (const [key, value] of Object.entries(annotations)) expect(typeof value, key).toBe('string');
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('runs %s from its folder on its port, with probes on its health endpoints', (_id, app) => {
    const deployment = find<Deployment>(manifests, 'Deployment', app.appID);
    const { containers, securityContext } = deployment.spec.template.spec;
    expect(containers).toHaveLength(1);
    const [container] = containers as [Container];
    expect(container.workingDir).toBe(`/app/${app.dir}`);
    expect(container.command).toEqual(app.command);
    expect(container.ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: app.appPort }));
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.startupProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(securityContext?.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(selects(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('gives %s an environment its env.ts accepts', async (_id, app) => {
    const deployment = find<Deployment>(manifests, 'Deployment', app.appID);
    const container = deployment.spec.template.spec.containers[0] ?? expect.fail('no container');
    const env = containerEnvironment(manifests, container);
    const { parsed, required } = await checkAppEnv(app.dir, env);
    for (const name of required) expect(env[name], `${app.appID} requires ${name}`).toBeTruthy();
    expect(parsed['PORT']).toBe(app.appPort);
    expect(parsed['HOST']).toBe('0.0.0.0');
    // Per-app variables must be ones the app reads; the shared ConfigMap may carry others' settings.
    const unread = (container.env ?? []).map(({ name }) => name).filter((name) => !(name in parsed) && !isReadElsewhere(name));
    expect(unread).toEqual([]);
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('gives the %s sidecar the secrets components/ read from its environment', (_id, app) => {
    const annotations = find<Deployment>(manifests, 'Deployment', app.appID).spec.template.metadata.annotations;
    const fromSecret = new Map(
      (annotations['dapr.io/env-from-secret'] ?? '').split(',').filter(Boolean).map((entry) => {
        const [name = '', ref = ''] = entry.split('=');
        const [secret = '', key = secret] = ref.split(':');
        return [name, { secret, key }] as const;
      }),
    );
    for (const name of sidecarSecretNames(components, app.appID)) {
      const ref = fromSecret.get(name) ?? expect.fail(`${app.appID}: dapr.io/env-from-secret lacks ${name}`);
      const secret = find<Manifest & { stringData?: Record<string, string> }>(manifests, 'Secret', ref.secret);
      expect(secret.stringData?.[ref.key], `${ref.secret}/${ref.key}`).toBeDefined();
    }
  });

  it.each(runFile.apps.map((app) => [app.appID, app] as const))('exposes %s with a Service, scales it with an HPA and protects it with a PDB', (_id, app) => {
    const deployment = find<Deployment>(manifests, 'Deployment', app.appID);
    const podLabels = deployment.spec.template.metadata.labels;
    const service = find<Manifest & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } }>(manifests, 'Service', app.appID);
    expect(selects(service.spec.selector, podLabels)).toBe(true);
    expect(service.spec.ports).toContainEqual(expect.objectContaining({ port: app.appPort, targetPort: 'http' }));

    const hpa = find<Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number; metrics: { resource?: { name: string } }[] } }>(
      manifests,
      'HorizontalPodAutoscaler',
      app.appID,
    );
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: app.appID });
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
    expect(deployment.spec.replicas ?? 1).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    // Utilization is computed over every container's request, the injected sidecar's too.
    if (hpa.spec.metrics.some((metric) => metric.resource?.name === 'cpu')) {
      expect(deployment.spec.template.spec.containers.every((c) => c.resources?.requests?.['cpu'] !== undefined)).toBe(true);
      expect(deployment.spec.template.metadata.annotations['dapr.io/sidecar-cpu-request']).toBeDefined();
    }

    const pdb = find<Manifest & { spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable?: number; minAvailable?: number } }>(manifests, 'PodDisruptionBudget', app.appID);
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(selects(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    // A PDB that allows no disruption at one replica would block every node drain.
    expect(pdb.spec.maxUnavailable ?? 0).toBeGreaterThanOrEqual(1);
  });

  it('marks every Secret value as a placeholder', () => {
    const secrets = manifests.filter((m) => m.kind === 'Secret') as (Manifest & { stringData?: Record<string, string>; data?: Record<string, string> })[];
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(secret.data, `${secret.metadata.name} keeps values in stringData`).toBeUndefined();
      for (const [key, value] of Object.entries(secret.stringData ?? {})) expect(value, `${secret.metadata.name}/${key}`).toContain('CHANGE-ME');
    }
  });

  it('deploys the Dapr resources of components/, unchanged', () => {
    for (const resource of components) {
      const rendered = find(manifests, resource.kind, resource.metadata.name);
      const { namespace: _namespace, labels: _labels, ...metadata } = rendered.metadata;
      expect({ ...rendered, metadata }).toEqual(resource);
    }
  });
});

describe('deploy/k8s/base/dapr', () => {
  it('keeps a copy of every file in components/', () => {
    const copies = readdirSync(k8s('base', 'dapr')).filter((file) => file !== 'configuration.yaml');
    expect(copies.sort()).toEqual(readdirSync(repoPath(runFile.resourcesPath)).filter((file) => file.endsWith('.yaml')).sort());
    for (const file of copies) expect(readDaprResources('deploy', 'k8s', 'base', 'dapr', file)).toEqual(readDaprResources(runFile.resourcesPath, file));
  });

  it('has the Configuration of dapr/config.yaml, with only the collector address changed', () => {
    const original = readYaml(runFile.configFilePath) as DaprResource & { spec: { tracing: { otel: Record<string, unknown> } } };
    const cluster = readYaml('deploy', 'k8s', 'base', 'dapr', 'configuration.yaml') as typeof original;
    expect(cluster.spec.tracing.otel['endpointAddress']).toMatch(/\.svc\.cluster\.local:4317$/);
    const withoutEndpoint = (c: typeof original) => ({ ...c, spec: { ...c.spec, tracing: { ...c.spec.tracing, otel: { ...c.spec.tracing.otel, endpointAddress: undefined } } } });
    expect(withoutEndpoint(cluster)).toEqual(withoutEndpoint(original));
  });
});

describe('the kustomize renderer', () => {
  it('refuses a kustomization field it does not implement rather than ignoring it', () => {
    expect(() => kustomize(repoPath('deploy', 'test', 'fixtures', 'unsupported-field'))).toThrow(KustomizeError);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client=true', '--output=json'], { encoding: 'utf8' });
  const kubectlVersion = kubectl.status === 0 ? (JSON.parse(kubectl.stdout) as { kustomizeVersion?: string }).kustomizeVersion : undefined;
  // kubectl is part of this project's machine image (1.32, kustomize v5); Debian's own 1.20 is too old.
  it.skipIf(kubectlVersion === undefined || !/^v5\./.test(kubectlVersion))(`renders every overlay exactly as kubectl kustomize (${kubectlVersion ?? 'no kubectl'}) does`, () => {
    for (const overlay of overlays) {
      const result = spawnSync('kubectl', ['kustomize', k8s('overlays', overlay)], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const fromKubectl = parseAllDocuments(result.stdout).map((document) => document.toJS() as Manifest);
      const key = (m: Manifest) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
      const ours = new Map(kustomize(k8s('overlays', overlay)).map((m) => [key(m), m]));
      expect(fromKubectl.map(key).sort()).toEqual([...ours.keys()].sort());
      for (const m of fromKubectl) expect(isDeepStrictEqual(m, ours.get(key(m))), `${overlay}: ${key(m)}`).toBe(true);
    }
  });
});
