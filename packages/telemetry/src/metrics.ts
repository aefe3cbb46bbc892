import { Counter, Gauge, Histogram, Registry, type GaugeConfiguration, type LabelValues, type OpenMetricsContentType } from 'prom-client';
import { activeTraceIds, traceIdOf } from './trace.ts';

// The process's Prometheus metrics, served on each app's own port at /metrics (see
// @agora/service's createHttpServer). OpenMetrics, so that counters and histogram buckets carry
// the trace id of their latest observation as an exemplar: a metric leads to a trace.

export const registry = new Registry<OpenMetricsContentType>();
registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);

/** Seconds buckets for request and step durations: 5 ms to 10 s. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ObserveOptions {
  /** The trace for the exemplar: a stored traceparent (work resumed later); the active span's when absent. */
  traceparent?: string | null | undefined;
}

export interface TracedCounter<L extends string> {
  inc(labels?: LabelValues<L>, options?: ObserveOptions & { value?: number }): void;
}

export interface TracedHistogram<L extends string> {
  observe(labels: LabelValues<L>, value: number, options?: ObserveOptions): void;
}

interface MetricConfiguration<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** Exemplar labels: the trace of `traceparent` when one is given, else the active span's; none outside a trace. */
function exemplarLabels(options: ObserveOptions | undefined): { trace_id: string } | undefined {
  if (options && 'traceparent' in options) {
    const traceId = traceIdOf(options.traceparent);
    return traceId ? { trace_id: traceId } : undefined;
  }
  const ids = activeTraceIds();
  return ids ? { trace_id: ids.trace_id } : undefined;
}

/** A counter whose samples carry the trace of their latest increment. Name it with `_total`. */
export function counter<L extends string = never>(configuration: MetricConfiguration<L>): TracedCounter<L> {
  const metric = new Counter<L>({ ...configuration, registers: [registry], enableExemplars: true });
  return {
    inc(labels = {}, options) {
      const exemplar = exemplarLabels(options);
      // prom-client types exemplar labels like the metric's own labels; they are independent.
      metric.inc({ labels, value: options?.value ?? 1, ...(exemplar ? { exemplarLabels: exemplar as LabelValues<L> } : {}) });
    },
  };
}

/** A histogram (seconds unless said otherwise) whose buckets carry the trace of their latest observation. */
export function histogram<L extends string = never>(configuration: MetricConfiguration<L> & { buckets?: number[] }): TracedHistogram<L> {
  const metric = new Histogram<L>({ buckets: DURATION_BUCKETS, ...configuration, registers: [registry], enableExemplars: true });
  return {
    observe(labels, value, options) {
      const exemplar = exemplarLabels(options);
      metric.observe({ labels, value, ...(exemplar ? { exemplarLabels: exemplar as LabelValues<L> } : {}) });
    },
  };
}

/** A gauge; give it `collect` to read its value when scraped. */
export function gauge<L extends string = never>(configuration: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  return new Gauge<L>({ ...configuration, registers: [registry] });
}

/** The /metrics answer: OpenMetrics text of every metric of this process. */
export async function scrape(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
