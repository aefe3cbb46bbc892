// The first import of src/index.ts: the OpenTelemetry SDK must patch http, pg, gRPC and ioredis
// before anything loads them (docs/adr/0013-telemetry.md).
import { startTelemetry } from '@agora/telemetry';

// Without an exporter, no library spans: each request's trace context is still handed on to the
// requests made inside it, so logs carry one trace id across services (ADR 0022).
startTelemetry({ serviceName: 'orders', unexportedInstrumentations: 'server' });
