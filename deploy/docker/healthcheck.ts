// The image's HEALTHCHECK: exits 0 when the app's readiness endpoint answers 2xx within 2 s, else 1.
// PORT is the app's own variable; HEALTHCHECK_PATH may point elsewhere (e.g. /health/live).
const port = process.env['PORT'] ?? '4000';
const path = process.env['HEALTHCHECK_PATH'] ?? '/health/ready';

try {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  process.exitCode = response.ok ? 0 : 1;
} catch {
  process.exitCode = 1;
}
