// Durations as daprd reads them: Go's time.ParseDuration syntax ("1m30s", "250ms", "1.5h"), or a
// bare integer meaning milliseconds (daprd's legacy form for timeouts and Redis intervals).

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const GO_DURATION = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)/;

/** Milliseconds, or undefined when `value` is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  let rest = text;
  let total = 0;
  while (rest.length > 0) {
    const match = GO_DURATION.exec(rest);
    if (!match) return undefined;
    const unit = /[a-zµμ]+$/.exec(match[0])?.[0] ?? '';
    total += Number(match[0].slice(0, -unit.length)) * (UNIT_MS[unit] ?? Number.NaN);
    rest = rest.slice(match[0].length);
  }
  return text.length > 0 && Number.isFinite(total) ? total : undefined;
}
