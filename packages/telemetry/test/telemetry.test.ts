import type { Server } from 'node:http';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counter, currentTraceparent, histogram, inSpan, recordSpansInMemory, registry, scrape, traceIdOf, tracesExportConfigured, type SpanRecorder } from '../src/index.ts';

let spans: SpanRecorder;

beforeAll(() => {
  spans = recordSpansInMemory('telemetry-test');
});

afterAll(async () => {
  await spans.stop();
});

describe('the exporter choice', () => {
  it('exports nothing unless OTEL_* names an exporter or an OTLP endpoint', () => {
    expect(tracesExportConfigured({})).toBe(false);
    expect(tracesExportConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(false);
    expect(tracesExportConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' })).toBe(true);
    expect(tracesExportConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel-collector:4318/v1/traces' })).toBe(true);
    expect(tracesExportConfigured({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
  });
});

describe('trace context carried by hand', () => {
  it('continues a stored traceparent in a new span, and hands its own on to the work inside', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const stored = `00-${traceId}-00f067aa0ba902b7-01`;
    let inner: string | undefined;
    await inSpan('activity reserveStock', { parent: stored, kind: SpanKind.INTERNAL, attributes: { 'saga.step': 'reserve-stock' } }, async () => {
      inner = currentTraceparent();
    });
    const span = (await spans.spans()).find((candidate) => candidate.name === 'activity reserveStock');
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span?.attributes['saga.step']).toBe('reserve-stock');
    expect(inner).toBe(`00-${traceId}-${span?.spanContext().spanId ?? ''}-01`);
    expect(traceIdOf(inner)).toBe(traceId);
  });

  it('records a thrown error on the span and rethrows it', async () => {
    await expect(inSpan('failing', {}, () => Promise.reject(new Error('provider down')))).rejects.toThrow('provider down');
    const span = (await spans.spans()).find((candidate) => candidate.name === 'failing');
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'provider down' });
    expect(span?.events.map((event) => event.name)).toContain('exception');
  });

  it('starts a new trace for a missing or malformed traceparent', async () => {
    const traceIds = await Promise.all([null, 'not-a-traceparent'].map((parent) => inSpan('orphan', { parent }, async (span) => span.spanContext().traceId)));
    expect(new Set(traceIds).size).toBe(2);
    for (const traceId of traceIds) expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(currentTraceparent()).toBeUndefined();
  });
});

describe('metrics', () => {
  const requests = counter({ name: 'test_requests_total', help: 'requests', labelNames: ['route'] });
  const durations = histogram({ name: 'test_duration_seconds', help: 'durations', labelNames: ['route'] });

  it('serves OpenMetrics whose samples carry the trace of their latest observation', async () => {
    const traceId = await trace.getTracer('test').startActiveSpan('request', async (span) => {
      requests.inc({ route: '/a' });
      durations.observe({ route: '/a' }, 0.02);
      span.end();
      return span.spanContext().traceId;
    });
    requests.inc({ route: '/b' }, { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`, value: 2 });
    requests.inc({ route: '/c' });

    const { contentType, body } = await scrape();
    expect(contentType).toContain('application/openmetrics-text');
    expect(registry.contentType).toBe(contentType);
    // The sample of `name` with exactly these labels, in whatever order prom-client writes them.
    const sample = (name: string, labels: Record<string, string>) =>
      body.split('\n').find((line) => {
        const match = /^(\w+)\{([^}]*)\}/.exec(line);
        const pairs = match?.[2]?.split(',').sort().join(',');
        return match?.[1] === name && pairs === Object.entries({ ...labels, service: 'telemetry-test' }).map(([key, value]) => `${key}="${value}"`).sort().join(',');
      }) ?? '';
    expect(sample('test_requests_total', { route: '/a' })).toMatch(new RegExp(`} 1 # \\{trace_id="${traceId}"\\} 1 \\d`));
    expect(sample('test_requests_total', { route: '/b' })).toMatch(new RegExp(`} 2 # \\{trace_id="${'ab'.repeat(16)}"\\} 2 \\d`));
    // Outside a trace: no exemplar.
    expect(sample('test_requests_total', { route: '/c' })).toMatch(/} 1$/);
    expect(sample('test_duration_seconds_bucket', { le: '0.025', route: '/a' })).toContain(`# {trace_id="${traceId}"} 0.02`);
    expect(body.trimEnd().endsWith('# EOF')).toBe(true);
  });
});

describe('trace context of incoming requests when nothing is exported', () => {
  it("runs each request in the caller's trace (or a new one) with a span id of its own, and probes in none", async () => {
    const { createServer } = await import('node:http');
    const { propagateRequestContext, stopPropagatingRequestContext } = await import('../src/request-context.ts');
    propagateRequestContext(/^\/health\//);
    const server = createServer((_request, response) => response.end(currentTraceparent() ?? 'none'));
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const continued = await (await fetch(`${url}/graphql`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })).text();
      expect(continued).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(continued).not.toContain('00f067aa0ba902b7');
      const fresh = await (await fetch(`${url}/graphql`)).text();
      expect(traceIdOf(fresh)).toMatch(/^[0-9a-f]{32}$/);
      expect(await (await fetch(`${url}/health/live`)).text()).toBe('none');
    } finally {
      stopPropagatingRequestContext();
      server.close();
    }
  });
});

describe('trace context of outgoing requests when nothing is exported', () => {
  it('hands the request’s trace context on to the fetch and node:http requests made inside it, and none outside', async () => {
    const http = await import('node:http');
    const { propagateRequestContext, stopPropagatingRequestContext } = await import('../src/request-context.ts');
    const listen = async (server: Server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    };
    // The next service: answers with the traceparent it received, and the tracestate after a ';' if one came.
    const next = http.createServer((request, response) => {
      const { traceparent, tracestate } = request.headers;
      response.end(`${typeof traceparent === 'string' ? traceparent : 'none'}${typeof tracestate === 'string' ? `;${tracestate}` : ''}`);
    });
    const nextUrl = await listen(next);
    const viaHttp = (headers: Record<string, string> = {}) =>
      new Promise<string>((resolve, reject) => {
        http
          .get(`${nextUrl}/work`, { headers }, (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    // This service: calls the next one with fetch, with node:http, and with a traceparent of its own.
    const own = `00-${'12'.repeat(16)}-${'34'.repeat(8)}-01`;
    const service = http.createServer((_request, response) => {
      void (async () => {
        const seen = { mine: currentTraceparent(), fetch: await (await fetch(`${nextUrl}/work`)).text(), http: await viaHttp(), given: await (await fetch(`${nextUrl}/work`, { headers: { traceparent: own } })).text() };
        response.end(JSON.stringify(seen));
      })();
    });
    propagateRequestContext(/^\/health\//);
    try {
      const url = await listen(service);
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const tracestate = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';
      const seen = (await (await fetch(`${url}/graphql`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate } })).json()) as Record<string, string>;
      expect(seen['mine']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      // The caller's vendors' tracestate travels on unchanged (W3C Trace Context).
      expect(seen['fetch']).toBe(`${seen['mine']};${tracestate}`);
      expect(seen['http']).toBe(`${seen['mine']};${tracestate}`);
      expect(seen['given']).toBe(own);
      // Outside any request (background work): nothing to hand on.
      expect(await (await fetch(`${nextUrl}/work`)).text()).toBe('none');
      expect(await viaHttp()).toBe('none');
    } finally {
      stopPropagatingRequestContext();
      service.close();
      next.close();
    }
  });
});
