/**
 * Replay and reward audit (src/replay): start a replay of a logged session in the simulated cell, follow the job, and read
 * what it found: how closely the replay followed the log, how success differs, and where the reward classifier erred.
 */
import { memo } from 'preact/compat';
import { useMemo, useState } from 'preact/hooks';
import { act } from './api.ts';
import { Card, Metric, PickRow } from './panels-live.tsx';
import type { ClassifierAudit, ModelsReply, ReplayJobFull, ReplayJobView, SessionRecord } from './types.ts';
import { dateTime, fmt, pct, usePoll } from './util.ts';

const ACTIVE = new Set(['queued', 'running']);

function jobSummary(j: ReplayJobView): string {
  const o = j.overall;
  if (j.state === 'failed') return j.error ?? 'failed';
  if (!o) return j.progress.total ? `${j.progress.done}/${j.progress.total} episodes` : j.state;
  return `${o.sameOutcome}/${o.episodes} same outcome · success ${pct(o.logged.successRate)} logged, ${pct(o.replay.successRate)} replayed`;
}

function AuditTable({ a, testid }: { a: ClassifierAudit; testid: string }) {
  const accuracy = a.samples ? (a.tp + a.tn) / a.samples : null;
  return (
    <div data-testid={testid}>
      <div class="muted small">
        {a.source === 'replayed' ? `${a.model ?? 'reward model'} on the replayed frames` : "the log's own predictions"} · threshold {fmt(a.threshold, 2)}
      </div>
      <div class="metrics">
        <Metric label="frames" value={String(a.samples)} />
        <Metric label="accuracy" value={pct(accuracy, 1)} />
        <Metric label="false positives" value={String(a.fp)} tone={a.fp > 0 ? 'bad' : undefined} />
        <Metric label="false negatives" value={String(a.fn)} tone={a.fn > 0 ? 'warn' : undefined} />
      </div>
      <table class="table small">
        <thead>
          <tr>
            <th>connector</th>
            <th>seated</th>
            <th>unseated</th>
            <th>FP rate</th>
            <th>FN rate</th>
          </tr>
        </thead>
        <tbody>
          {a.byConnector.map((c) => (
            <tr key={c.name}>
              <td>{c.name}</td>
              <td class="mono">{c.seated}</td>
              <td class="mono">{c.unseated}</td>
              <td class="mono">{pct(c.fpRate, 0)}</td>
              <td class="mono">{pct(c.fnRate, 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {a.byHeight.length > 0 && (
        <table class="table small" title="error rate by tip height above seated: where an image classifier is unsure">
          <thead>
            <tr>
              <th>connector</th>
              {(a.byHeight[0]?.bins ?? []).map((b) => (
                <th key={b.label}>{b.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {a.byHeight.map((h) => (
              <tr key={h.name}>
                <td>{h.name}</td>
                {h.bins.map((b) => (
                  <td key={b.label} class="mono">
                    {b.samples ? `${pct(b.errorRate, 0)} of ${b.samples}` : '–'}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function JobDetail({ id, tick }: { id: number; tick: unknown }) {
  const { data: j } = usePoll<ReplayJobFull>(`/replays/${id}`, tick);
  const r = j?.result ?? null;
  if (!j) return <div class="empty">Loading replay {id}…</div>;
  if (!r)
    return (
      <div class="empty">
        {j.state === 'failed' ? `Replay ${id} failed: ${j.error ?? ''}` : `Replay ${id}: ${j.state}, ${j.progress.done}/${j.progress.total ?? '?'} episodes`}
      </div>
    );
  const o = r.overall;
  return (
    <div data-testid="replay-result">
      <div class="metrics">
        <Metric label="same outcome" value={`${o.sameOutcome}/${o.episodes}`} />
        <Metric label="parted" value={`${o.parted}${o.medianPartStep !== null ? ` (step ${o.medianPartStep})` : ''}`} />
        <Metric label="max pose divergence" value={`${fmt(o.maxPoseMm, 2)} mm`} />
        <Metric label="success logged → replayed" value={`${pct(o.logged.successRate)} → ${pct(o.replay.successRate)}`} />
        <Metric label="sim steps / CPU s" value={fmt(r.speed.stepsPerCpuSecond, 0)} />
      </div>
      <div class="muted small">
        {r.mode} · policy {r.policy ?? 'as logged'} · paired success: both {o.paired.both}, logged only {o.paired.loggedOnly}, replay only {o.paired.replayOnly}
        , neither {o.paired.neither}
      </div>
      {r.audit ? (
        <>
          <h4>Reward audit</h4>
          {r.audit.replayed && <AuditTable a={r.audit.replayed} testid="audit-replayed" />}
          {r.audit.logged && <AuditTable a={r.audit.logged} testid="audit-logged" />}
          {r.audit.notes.map((n) => (
            <div key={n} class="muted small">
              {n}
            </div>
          ))}
        </>
      ) : (
        <div class="muted small">No reward audit (choose a reward model to audit the classifier against the simulator's ground truth).</div>
      )}
      {r.notes.map((n) => (
        <div key={n} class="muted small">
          {n}
        </div>
      ))}
    </div>
  );
}

export const ReplayCard = memo(function ReplayCard({ tick }: { tick: number }) {
  const [bump, setBump] = useState(0);
  const { data: jobs } = usePoll<ReplayJobView[]>('/replays', `${tick}/${bump}`, 2000);
  const { data: sessions } = usePoll<SessionRecord[]>('/sessions?limit=50', tick);
  const { data: models } = usePoll<ModelsReply>('/models', tick);
  const [sid, setSid] = useState<number | null>(null);
  const [mode, setMode] = useState<'open-loop' | 'closed-loop'>('open-loop');
  const [policy, setPolicy] = useState('p-only');
  const [reward, setReward] = useState('');
  const [sel, setSel] = useState<number | null>(null);
  const session = sid ?? sessions?.[0]?.id ?? null;
  const versions = useMemo(() => {
    const of = (k: string): string[] => [...new Set((models?.models ?? []).filter((m) => m.kind === k).map((m) => m.version))];
    return { policy: of('policy'), reward: of('reward') };
  }, [models]);
  const running = (jobs ?? []).some((j) => ACTIVE.has(j.state));
  const start = async (): Promise<void> => {
    if (session === null) return;
    const body = { sessionId: session, mode, ...(mode === 'closed-loop' ? { policy } : {}), ...(reward ? { reward } : {}) };
    const res = await act<ReplayJobView>('Replay', '/replays', body);
    if (res.ok && res.body) setSel(res.body.id);
    setBump((b) => b + 1);
  };
  const shown = sel ?? jobs?.find((j) => j.state === 'done')?.id ?? null;
  return (
    <Card
      title="Replay and reward audit"
      id="replay"
      wide
      aside={<span class="muted small">{running ? 'a replay is running (in its own thread)' : `${jobs?.length ?? 0} jobs`}</span>}
    >
      <div class="actions replay-form">
        <label class="inline">
          Session
          <select data-testid="replay-session" value={session ?? ''} onChange={(e) => setSid(Number((e.target as HTMLSelectElement).value))}>
            {(sessions ?? []).map((x) => (
              <option key={x.id} value={x.id}>
                #{x.id} · {dateTime(x.startedAt)} · {x.episodeCount} episodes
              </option>
            ))}
          </select>
        </label>
        <label class="inline">
          Mode
          <select data-testid="replay-mode" value={mode} onChange={(e) => setMode((e.target as HTMLSelectElement).value as 'open-loop' | 'closed-loop')}>
            <option value="open-loop">open loop (the logged commands)</option>
            <option value="closed-loop">closed loop (a policy drives)</option>
          </select>
        </label>
        {mode === 'closed-loop' && (
          <label class="inline">
            Policy
            <select data-testid="replay-policy" value={policy} onChange={(e) => setPolicy((e.target as HTMLSelectElement).value)}>
              <option value="p-only">P-controller only</option>
              {versions.policy.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          </label>
        )}
        <label class="inline">
          Reward audit
          <select data-testid="replay-reward" value={reward} onChange={(e) => setReward((e.target as HTMLSelectElement).value)}>
            <option value="">none</option>
            {versions.reward.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <button class="btn primary" data-testid="replay-start" disabled={session === null} onClick={() => void start()}>
          Replay
        </button>
      </div>
      <div class="sessions">
        <div class="ep-list">
          <div class="table-wrap tall">
            <table class="table small clickable" data-testid="replay-jobs">
              <thead>
                <tr>
                  <th>#</th>
                  <th>session</th>
                  <th>mode</th>
                  <th>state</th>
                  <th>result</th>
                </tr>
              </thead>
              <tbody>
                {(jobs ?? []).map((j) => (
                  <PickRow key={j.id} selected={shown === j.id} onPick={() => setSel(j.id)}>
                    <td class="mono">{j.id}</td>
                    <td class="mono">{j.options.sessionId}</td>
                    <td>{j.options.mode}</td>
                    <td>
                      <span class={`pill ${j.state === 'failed' ? 'bad' : j.state === 'done' ? 'ok' : ''}`}>{j.state}</span>
                    </td>
                    <td class="small">{jobSummary(j)}</td>
                  </PickRow>
                ))}
                {jobs && jobs.length === 0 && (
                  <tr>
                    <td colSpan={5} class="muted">
                      No replays yet. A replay runs a logged session again in the simulated cell and audits the reward classifier.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </div>
        <div class="ep-view">
          {shown !== null ? (
            <JobDetail id={shown} tick={`${tick}/${bump}/${jobs?.find((j) => j.id === shown)?.state ?? ''}`} />
          ) : (
            <div class="empty">Choose a replay to read its comparison and reward audit.</div>
          )}
        </div>
      </div>
    </Card>
  );
});
