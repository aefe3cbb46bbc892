// The first import of src/index.ts: the OpenTelemetry SDK must patch http, pg, gRPC and ioredis
// before anything loads them (docs/adr/0013-telemetry.md).
import { startTelemetry } from '@agora/telemetry';

startTelemetry({ serviceName: 'payments' });
