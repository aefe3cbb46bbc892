import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { resetTelemetry, startTelemetry } from './sdk.ts';

export interface SpanRecorder {
  /** Every span of this process that has ended so far (exported first: the processor exports asynchronously). */
  spans(): Promise<ReadableSpan[]>;
  reset(): void;
  /** Stops the SDK and unregisters it, so that the next test file can start its own. */
  stop(): Promise<void>;
}

/**
 * The in-process exporter for tests: starts this process's SDK (without library
 * instrumentations unless asked) with every ended span kept in memory.
 */
export function recordSpansInMemory(serviceName: string, options: { instrumentations?: boolean } = {}): SpanRecorder {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor({ exporter });
  startTelemetry({ serviceName, instrumentations: options.instrumentations ?? false, spanProcessors: [processor] });
  return {
    async spans() {
      await processor.forceFlush();
      return exporter.getFinishedSpans();
    },
    reset: () => exporter.reset(),
    stop: resetTelemetry,
  };
}
