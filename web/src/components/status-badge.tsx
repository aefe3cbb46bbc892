const tones: Record<string, string> = {
  CONFIRMED: 'good',
  COMPLETED: 'good',
  SUCCEEDED: 'good',
  CAPTURED: 'good',
  up: 'good',
  closed: 'good',
  PENDING: 'busy',
  RUNNING: 'busy',
  COMPENSATING: 'busy',
  PENDING_CONFIRMATION: 'busy',
  'half-open': 'busy',
  degraded: 'busy',
  CANCELLED: 'bad',
  COMPENSATED: 'bad',
  REJECTED: 'bad',
  DECLINED: 'bad',
  FAILED: 'bad',
  down: 'bad',
  open: 'bad',
  NEEDS_ATTENTION: 'alarm',
};

/** A status as a word with a colour; the word alone carries the meaning. */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${tones[status] ?? 'plain'}`}>{status.replaceAll('_', ' ').toLowerCase()}</span>;
}
