import { counter, histogram } from '@agora/telemetry';

// The saga funnel (deploy/observability/grafana/dashboards/saga-funnel.json reads these names;
// docs/adr/0010 documents them). Each observation carries the saga's trace as its exemplar.

const started = counter({ name: 'agora_saga_started_total', help: 'Order sagas started (a retried saga starts again)' });
const completed = counter({ name: 'agora_saga_completed_total', help: 'Order sagas that confirmed their order' });
const compensated = counter({ name: 'agora_saga_compensated_total', help: 'Order sagas that compensated and cancelled their order' });
const failed = counter({ name: 'agora_saga_failed_total', help: 'Order sagas that escalated (order NEEDS_ATTENTION) or failed' });
const durations = histogram({
  name: 'agora_saga_duration_seconds',
  help: 'Time from a saga start to its end, by outcome (completed, compensated, failed)',
  labelNames: ['outcome'],
  buckets: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
});
const activities = histogram({
  name: 'agora_saga_activity_duration_seconds',
  help: 'Time one saga activity took, by activity and outcome (ok, rejected, failed)',
  labelNames: ['activity', 'outcome'],
});

export type SagaOutcome = 'completed' | 'compensated' | 'failed';

export const sagaMetrics = {
  started(traceparent: string | undefined): void {
    started.inc({}, { traceparent });
  },
  finished(outcome: SagaOutcome, seconds: number, traceparent: string | undefined): void {
    ({ completed, compensated, failed })[outcome].inc({}, { traceparent });
    durations.observe({ outcome }, seconds, { traceparent });
  },
  activity(activity: string, outcome: 'ok' | 'rejected' | 'failed', seconds: number, traceparent: string | undefined): void {
    activities.observe({ activity, outcome }, seconds, { traceparent });
  },
};
