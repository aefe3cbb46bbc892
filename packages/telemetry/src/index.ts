export { shutdownTelemetry, startTelemetry, tracesExportConfigured } from './sdk.ts';
export type { Telemetry, TelemetryOptions } from './sdk.ts';
export { counter, DURATION_BUCKETS, gauge, histogram, registry, scrape } from './metrics.ts';
export type { ObserveOptions, TracedCounter, TracedHistogram } from './metrics.ts';
export { activeTraceIds, contextFromTraceparent, currentTraceparent, hopSpanContext, inSpan, traceIdOf } from './trace.ts';
export type { SpanOptions } from './trace.ts';
export { recordSpansInMemory } from './testing.ts';
export type { SpanRecorder } from './testing.ts';
