import { useCallback, useEffect, useState } from 'react';
import { ErrorMessage } from '../components/error-message.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { useConfig } from '../config-context.tsx';
import { HttpError } from '../errors.ts';
import { formatTime } from '../format.ts';

// The gateway's report (gateway/src/system-health.ts); null: not known (unreachable, or a sidecar that does not say).
interface Breaker {
  name: string;
  state: string;
}

interface ServiceHealth {
  service: string;
  status: string;
  reason?: string;
  checks: { name: string; ok: boolean; detail?: string }[];
  sidecar: { status: string; breakers: { policy: string; target: string; state: string }[] | null } | null;
  breakers: Breaker[] | null;
}

interface HealthReport {
  checkedAt: string;
  services: ServiceHealth[];
}

const REFRESH_MS = 5_000;

export function AdminHealthPage() {
  const { config, manager } = useConfig();
  const [report, setReport] = useState<HealthReport>();
  const [error, setError] = useState<unknown>();

  const load = useCallback(async () => {
    try {
      const user = await manager.getUser();
      const response = await fetch(config.healthPath, { headers: user ? { authorization: `Bearer ${user.access_token}` } : {}, cache: 'no-store' });
      if (!response.ok) throw new HttpError(response.status, await response.text());
      setReport((await response.json()) as HealthReport);
      setError(undefined);
    } catch (failure) {
      setError(failure);
    }
  }, [config, manager]);

  useEffect(() => {
    void load();
    // Each report costs the services a round of checks (and an audit line): none while the tab is hidden.
    const timer = setInterval(() => {
      if (!document.hidden) void load();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);

  return (
    <main>
      <h1>Service health</h1>
      <ErrorMessage error={error} />
      {!report && !error && <p className="loading">Asking every service…</p>}
      {report && (
        <>
          <p aria-live="polite">Checked {formatTime(report.checkedAt)}; refreshed every {REFRESH_MS / 1000} s.</p>
          <ul className="health">
            {report.services.map((service) => (
              <li key={service.service} data-service={service.service} data-status={service.status}>
                <h2>
                  {service.service} <StatusBadge status={service.status} />
                </h2>
                {service.reason && <p className="step-error">{service.reason}</p>}
                {service.checks.length > 0 && (
                  <ul className="checks">
                    {service.checks.map((check) => (
                      <li key={check.name}>
                        {check.name}: <StatusBadge status={check.ok ? 'up' : 'down'} /> {check.detail}
                      </li>
                    ))}
                  </ul>
                )}
                <p>
                  Sidecar: <StatusBadge status={service.sidecar?.status ?? 'unknown'} />
                </p>
                <Breakers title="Sidecar circuit breakers" breakers={service.sidecar?.breakers?.map(({ policy, target, state }) => ({ name: `${target} (${policy})`, state })) ?? null} />
                <Breakers title="Service circuit breakers" breakers={service.breakers} />
              </li>
            ))}
          </ul>
        </>
      )}
    </main>
  );
}

function Breakers({ title, breakers }: { title: string; breakers: Breaker[] | null }) {
  if (breakers === null) return <p>{title}: not known.</p>;
  if (breakers.length === 0) return <p>{title}: none in use.</p>;
  return (
    <div>
      <p>{title}:</p>
      <ul className="checks">
        {breakers.map((breaker) => (
          <li key={breaker.name}>
            {breaker.name}: <StatusBadge status={breaker.state} />
          </li>
        ))}
      </ul>
    </div>
  );
}
