import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFlags, readCompose, readRunFile, readText, readYaml, repoPath, serviceCommand } from './support.ts';

const runFile = readRunFile();
const compose = readCompose();
const observability = (...parts: string[]) => ['deploy', 'observability', ...parts];

describe('deploy/observability/prometheus.yml', () => {
  interface ScrapeConfig {
    job_name: string;
    metrics_path?: string;
    static_configs: { targets: string[]; labels?: Record<string, string> }[];
  }
  const config = readYaml(...observability('prometheus.yml')) as { scrape_configs: ScrapeConfig[] };
  const job = (name: string) => config.scrape_configs.find((c) => c.job_name === name) ?? expect.fail(`no scrape job ${name}`);
  const targets = (name: string) => job(name).static_configs.flatMap(({ targets: list, labels }) => list.map((target) => ({ target, appId: labels?.['app_id'] })));

  it('scrapes every app of dapr/dapr.yaml on its own port', () => {
    expect(job('agora').metrics_path).toBe('/metrics');
    expect(targets('agora').sort((a, b) => a.target.localeCompare(b.target))).toEqual(
      runFile.apps.map((app) => ({ target: `${app.appID}:${app.appPort}`, appId: app.appID })).sort((a, b) => a.target.localeCompare(b.target)),
    );
  });

  it("scrapes every daprd sidecar on its metrics port, at its app's address", () => {
    const expected = runFile.apps.map((app) => {
      const flags = parseFlags(serviceCommand(compose.services[`${app.appID}-dapr`] ?? expect.fail(`no ${app.appID}-dapr`)).slice(1));
      return { target: `${app.appID}:${flags.get('metrics-port') ?? '9090'}`, appId: app.appID };
    });
    const byTarget = (a: { target: string }, b: { target: string }) => a.target.localeCompare(b.target);
    expect(targets('daprd').sort(byTarget)).toEqual(expected.sort(byTarget));
  });

  it("scrapes the collector's Prometheus exporter", () => {
    const collector = readYaml(...observability('otel-collector.yaml')) as { exporters: { prometheus: { endpoint: string } } };
    const port = collector.exporters.prometheus.endpoint.split(':').at(-1);
    expect(targets('otel-collector').map(({ target }) => target)).toEqual([`otel-collector:${port ?? ''}`]);
  });
});

describe('deploy/observability/otel-collector.yaml', () => {
  type Section = Record<string, unknown>;
  const config = readYaml(...observability('otel-collector.yaml')) as {
    receivers: Section;
    processors: Section;
    exporters: Section & { 'otlp/jaeger': { endpoint: string }; 'otlphttp/loki': { endpoint: string } };
    connectors: Section;
    extensions: Section;
    service: { extensions: string[]; pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
  };

  it('defines every receiver, processor, exporter and connector its pipelines use', () => {
    const sources = { ...config.receivers, ...config.connectors };
    const sinks = { ...config.exporters, ...config.connectors };
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      for (const receiver of pipeline.receivers) expect(sources, `${name}: ${receiver}`).toHaveProperty([receiver]);
      for (const processor of pipeline.processors) expect(config.processors, `${name}: ${processor}`).toHaveProperty([processor]);
      for (const exporter of pipeline.exporters) expect(sinks, `${name}: ${exporter}`).toHaveProperty([exporter]);
    }
    for (const extension of config.service.extensions) expect(config.extensions).toHaveProperty([extension]);
    // A connector joins two pipelines: exported by one, received by another.
    for (const connector of Object.keys(config.connectors)) {
      const pipelines = Object.values(config.service.pipelines);
      expect(pipelines.some((p) => p.exporters.includes(connector))).toBe(true);
      expect(pipelines.some((p) => p.receivers.includes(connector))).toBe(true);
    }
    expect(Object.keys(config.service.pipelines).sort()).toEqual(['logs', 'metrics', 'traces']);
  });

  it('sends traces to Jaeger and logs to Loki, both compose services', () => {
    expect(new URL(`grpc://${config.exporters['otlp/jaeger'].endpoint}`).hostname).toBe('jaeger');
    expect(new URL(config.exporters['otlphttp/loki'].endpoint).hostname).toBe('loki');
    for (const name of ['jaeger', 'loki']) expect(compose.services[name], name).toBeDefined();
  });

  it('receives OTLP on the port the Dapr configurations export to', () => {
    const grpc = (config.receivers['otlp'] as { protocols: { grpc: { endpoint: string } } }).protocols.grpc.endpoint;
    const daprConfig = readYaml('deploy', 'compose', 'dapr-config.yaml') as { spec: { tracing: { otel: { endpointAddress: string } } } };
    expect(daprConfig.spec.tracing.otel.endpointAddress.split(':')[1]).toBe(grpc.split(':')[1]);
  });
});

describe('Grafana provisioning', () => {
  interface Panel {
    title: string;
    type: string;
    datasource?: { type: string; uid: string };
    targets?: { expr?: string; datasource?: { uid: string } }[];
    panels?: Panel[];
  }
  interface Dashboard {
    uid: string;
    title: string;
    panels: Panel[];
  }
  const datasources = (readYaml(...observability('grafana', 'provisioning', 'datasources', 'datasources.yaml')) as { datasources: { uid: string; type: string; url: string }[] }).datasources;
  const dashboardFiles = readdirSync(repoPath(...observability('grafana', 'dashboards')));
  const dashboards = dashboardFiles.map((file) => JSON.parse(readText(...observability('grafana', 'dashboards', file))) as Dashboard);

  it('provisions Prometheus, Jaeger and Loki at their compose addresses', () => {
    expect(datasources.map((d) => d.type).sort()).toEqual(['jaeger', 'loki', 'prometheus']);
    for (const datasource of datasources) expect(compose.services[new URL(datasource.url).hostname], datasource.url).toBeDefined();
  });

  it('ships the service RED, saga funnel and sidecar health dashboards, each with a unique uid', () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual(['agora-saga-funnel', 'agora-service-red', 'agora-sidecar-health']);
    const provider = readYaml(...observability('grafana', 'provisioning', 'dashboards', 'dashboards.yaml')) as { providers: { options: { path: string } }[] };
    const grafana = compose.services['grafana'];
    expect(grafana?.volumes).toContain(`./deploy/observability/grafana/dashboards:${provider.providers[0]?.options.path ?? ''}:ro`);
  });

  it('queries only provisioned data sources, with a query in every panel', () => {
    const uids = new Set(datasources.map((d) => d.uid));
    const panels = (list: Panel[]): Panel[] => list.flatMap((panel) => [panel, ...panels(panel.panels ?? [])]);
    for (const dashboard of dashboards) {
      for (const panel of panels(dashboard.panels).filter((p) => p.type !== 'row')) {
        const where = `${dashboard.title} / ${panel.title}`;
        expect(uids.has(panel.datasource?.uid ?? ''), where).toBe(true);
        expect(panel.targets?.length, where).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          expect(target.expr, where).toBeTruthy();
          expect(uids.has(target.datasource?.uid ?? panel.datasource?.uid ?? ''), where).toBe(true);
        }
      }
    }
  });

  it('reads the sidecar dashboard from the daprd scrape job and the saga dashboard from the documented metric names', () => {
    const exprs = (uid: string) => dashboards.find((d) => d.uid === uid)?.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')) ?? [];
    expect(exprs('agora-sidecar-health').join('\n')).toContain('job="daprd"');
    const sagaMetrics = new Set(exprs('agora-saga-funnel').flatMap((expr) => [...expr.matchAll(/\b(agora_saga_[a-z_]+)/g)].map((m) => m[1])));
    const adr = readdirSync(repoPath('docs', 'adr')).find((file) => file.includes('containers-and-kubernetes')) ?? expect.fail('no ADR on containers and Kubernetes');
    const documented = readText('docs', 'adr', adr);
    for (const metric of sagaMetrics) expect(documented, `${metric ?? ''} is documented`).toContain((metric ?? '').replace(/_bucket$/, ''));
  });
});
