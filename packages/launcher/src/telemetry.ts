// The first import of main.ts. The launcher hosts the local sidecars (docs/adr/0006): their spans
// per hop and the workflow engine's spans are recorded through this process's SDK. No library is
// patched here: the sidecars set traceparent on the requests they forward themselves.
import { startTelemetry } from '@agora/telemetry';

startTelemetry({ serviceName: 'dapr-sidecar', instrumentations: false });
