// The first import of src/index.ts: the OpenTelemetry SDK must patch http, pg, gRPC and ioredis
// before anything loads them (docs/adr/0013-telemetry.md).
import { startTelemetry } from '@agora/telemetry';

// Without an exporter, only the server span: the data source propagates its context by hand (ADR 0015).
startTelemetry({ serviceName: 'gateway', unexportedInstrumentations: 'server' });
