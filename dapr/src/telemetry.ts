// The first import of main.ts: a sidecar run as its own process records its spans per hop and the
// workflow engine's spans through its own SDK, as the launcher does for the sidecars it hosts
// (docs/adr/0013-telemetry.md). No library is patched: the sidecar sets traceparent itself.
import { startTelemetry } from '@agora/telemetry';

startTelemetry({ serviceName: 'dapr-sidecar', instrumentations: false });
