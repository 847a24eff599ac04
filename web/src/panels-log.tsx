/** Panels fed by the log and the model registry: learning, policy and swaps, sessions and episodes, events. */
import { memo } from 'preact/compat';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { AlignedData, Options } from 'uplot';
import { act } from './api.ts';
import type { LossSample } from './live.ts';
import { Plot, axisStyle } from './plot.tsx';
import { Card, Metric, PickRow } from './panels-live.tsx';
import type { DaemonStatus, EpisodeRecord, EpisodeTransition, EventRecord, LearningView, ModelsReply, SessionRecord, ValidationResult } from './types.ts';
import { clock, dateTime, fmt, isNum, mm, pct, shortTime, usePoll } from './util.ts';

// ------------------------------------------------------------------ learning

function rolling(eps: EpisodeRecord[], k: number, hit: (e: EpisodeRecord) => boolean | null): Array<number | null> {
  const out: Array<number | null> = [];
  const win: boolean[] = [];
  for (const e of eps) {
    const h = hit(e);
    if (h !== null) {
      win.push(h);
      if (win.length > k) win.shift();
    }
    out.push(win.length ? win.filter(Boolean).length / win.length : null);
  }
  return out;
}

export const LearningCard = memo(function LearningCard({ s, tick, losses }: { s: DaemonStatus | null; tick: number; losses: LossSample[] }) {
  const view = (s?.extra['learning'] as LearningView | undefined) ?? null;
  const k = view?.window ?? 20;
  const { data: eps } = usePoll<EpisodeRecord[]>('/episodes?kind=practice&limit=1000&order=desc', tick);
  const judged = useMemo(() => (eps ?? []).filter((e) => e.outcome === 'success' || e.outcome === 'failure').reverse(), [eps]);
  const opts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      scales: { x: { time: false }, y: { range: [0, 1] } },
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { ...axisStyle, label: 'practice episode', labelSize: 14, size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
        { ...axisStyle, label: `success, last ${k}`, labelSize: 14, size: 46, values: (_u, v) => v.map((x) => `${Math.round(x * 100)}%`) },
      ],
      series: [
        { label: 'episode' },
        // Truth drawn first and wider, so the learned line stays visible where they agree.
        { label: 'ground truth (sim)', stroke: '#2f9e44', width: 4 },
        { label: 'learned (reward classifier)', stroke: '#7048e8', width: 2 },
        // Upper edge of the false-positive band: the learned rate where it exceeds the truth, else the truth.
        { label: 'false-positive gap', stroke: 'rgba(217,69,59,0.5)', width: 0, points: { show: false } },
      ],
      bands: [{ series: [3, 1], fill: 'rgba(217,69,59,0.22)' }],
    }),
    [k],
  );
  const { data, learned, gt } = useMemo(() => {
    const learned = rolling(judged, k, (e) => (e.learnedSuccessProb === null ? null : e.outcome === 'success'));
    const gt = rolling(judged, k, (e) => e.gtSuccess);
    const upper = learned.map((l, i) => {
      const g = gt[i];
      return isNum(l) && isNum(g) ? Math.max(l, g) : null;
    });
    return { data: [judged.map((_, i) => i + 1), gt, learned, upper] as AlignedData, learned, gt };
  }, [judged, k]);
  const fp = judged.filter((e) => e.outcome === 'success' && e.gtSuccess === false).length;
  const fn = judged.filter((e) => e.outcome === 'failure' && e.gtSuccess === true).length;
  const withGt = judged.filter((e) => e.gtSuccess !== null).length;
  const lastL = learned[learned.length - 1] ?? null;
  const lastG = gt[gt.length - 1] ?? null;
  const tr = view?.trainer ?? null;
  const lossOpts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      scales: { x: { time: true }, y: { distr: 3 } },
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { ...axisStyle, size: 30 },
        { ...axisStyle, label: 'loss', labelSize: 14, size: 46 },
      ],
      series: [
        {},
        { label: 'V loss', stroke: '#2b6cd4', width: 1.5 },
        { label: 'Q loss', stroke: '#d9453b', width: 1.5 },
        { label: 'π loss', stroke: '#e8890c', width: 1.5 },
      ],
    }),
    [],
  );
  const pos = (v: number | null): number | null => (isNum(v) && v > 0 ? v : null);
  const lossData = useMemo<AlignedData>(
    () => [losses.map((l) => l.t), losses.map((l) => pos(l.vLoss)), losses.map((l) => pos(l.qLoss)), losses.map((l) => pos(l.piLoss))],
    [losses],
  );
  return (
    <Card title="Learning on the job" id="learning" wide aside={<span class="muted small">{judged.length} judged practice episodes in this log</span>}>
      <div class="metrics">
        <Metric label={`learned, last ${k}`} value={pct(lastL)} testid="learned-rate" />
        <Metric label={`truth, last ${k}`} value={withGt ? pct(lastG) : 'n/a'} testid="gt-rate" />
        <Metric
          label={s?.exams ? `exams (no noise), last ${s.exams.n}` : 'exams (no noise)'}
          value={s?.exams ? pct(s.exams.learnedSuccessRate ?? s.exams.gtSuccessRate) : 'off'}
          testid="exam-rate"
        />
        <Metric label="false pos / neg" value={withGt ? `${fp} / ${fn}` : 'n/a'} tone={withGt ? (fp > 0 ? 'warn' : 'ok') : undefined} testid="fp" />
        <Metric label="trainer" value={tr ? tr.state : 'off'} tone={tr ? (tr.lastError ? 'bad' : 'ok') : undefined} />
        <Metric label="updates · per s" value={tr ? `${tr.updates} · ${fmt(tr.updatesPerSec, 1)}` : '–'} />
        <Metric label="swaps · rejected" value={view ? `${view.swaps.swaps} · ${view.swaps.rejected}` : '–'} />
      </div>
      {(s?.warnings ?? []).map((w) => (
        <div key={w.kind} class="error small" data-testid="daemon-warning">
          {w.message}
        </div>
      ))}
      <div class="two-plots">
        <div>
          {judged.length > 0 ? (
            <Plot opts={opts} data={data} height={190} label="learned and ground-truth success over practice" />
          ) : (
            <div class="empty">No judged practice episodes yet.</div>
          )}
          <div class="muted small">Red band: where the reward classifier calls more successes than the simulator's ground truth (false-positive gap).</div>
        </div>
        <div>
          {losses.length > 1 ? (
            <Plot opts={lossOpts} data={lossData} height={190} label="trainer losses" />
          ) : (
            <div class="empty">
              {tr
                ? 'Waiting for the trainer’s first losses.'
                : 'The background trainer is not running: npm start runs it unless --no-learning (or learning.enabled: false) says otherwise.'}
            </div>
          )}
          {tr?.lastError && <div class="error small">trainer: {tr.lastError}</div>}
        </div>
      </div>
    </Card>
  );
});

// ------------------------------------------------------------------ policy and swaps

interface SwapRow {
  time: number;
  kind: 'activate' | 'rollback' | 'deactivate' | 'rejected' | 'flagged';
  version: string | null;
  by: string;
  reason: string | null;
  validation: ValidationResult | null;
}

function validationText(v: ValidationResult | null): string {
  if (!v) return '–';
  const parts = [v.ok ? (v.flagged ? 'flagged' : 'passed') : 'failed', `${v.probes} probes`];
  if (isNum(v.maxDiffM)) parts.push(`Δmax ${mm(v.maxDiffM, 2)} mm`);
  parts.push(`|a|max ${mm(v.maxAbsActionM, 2)} mm`);
  return parts.join(' · ');
}

export const PolicyCard = memo(function PolicyCard({ s, tick }: { s: DaemonStatus | null; tick: number }) {
  const { data: models } = usePoll<ModelsReply>('/models?kind=policy', `${tick}/${s?.policy.version}`, 5000);
  const { data: rejected } = usePoll<EventRecord[]>('/event-log?kind=swap_rejected&limit=20', tick, 5000);
  const { data: flagged } = usePoll<EventRecord[]>('/event-log?kind=swap_flagged&limit=20', tick, 5000);
  const [pick, setPick] = useState('');
  const rows = useMemo<SwapRow[]>(() => {
    const byId = new Map((models?.models ?? []).map((x) => [x.id, x]));
    const out: SwapRow[] = (models?.activations ?? []).map((a) => ({
      time: a.activatedAt,
      kind: a.action,
      version: a.version,
      by: a.by,
      reason: a.reason,
      validation: (a.modelId !== null ? (byId.get(a.modelId)?.validation as ValidationResult | null) : null) ?? null,
    }));
    for (const e of rejected ?? [])
      out.push({
        time: e.time,
        kind: 'rejected',
        version: (e.data as { version?: string } | null)?.version ?? null,
        by: '',
        reason: e.message,
        validation: (e.data as { validation?: ValidationResult } | null)?.validation ?? null,
      });
    for (const e of flagged ?? [])
      out.push({
        time: e.time,
        kind: 'flagged',
        version: (e.data as { version?: string } | null)?.version ?? null,
        by: '',
        reason: e.message,
        validation: (e.data as { validation?: ValidationResult } | null)?.validation ?? null,
      });
    return out.sort((a, b) => b.time - a.time).slice(0, 30);
  }, [models, rejected, flagged]);
  const policies = models?.models ?? [];
  return (
    <Card
      title="Policy"
      id="policy"
      aside={
        s && <span class={`pill ${s.policy.mode === 'residual' ? 'ok' : 'warn'}`}>{s.policy.mode === 'residual' ? 'residual RL' : 'P-controller only'}</span>
      }
    >
      <div class="metrics">
        <Metric text label="driving policy" value={s?.policy.version ?? 'none'} testid="policy-version" />
        <Metric text label="reward model" value={s?.reward.version ?? 'none'} />
        <Metric label="pending swap" value={s?.policy.pendingSwap ?? '–'} />
        <Metric label="policy faults" value={s ? String(s.policy.faults) : '–'} tone={s ? (s.policy.faults ? 'warn' : 'ok') : undefined} />
      </div>
      <div class="actions">
        <button
          class="btn"
          onClick={() => void act('Roll back policy', '/models/rollback', { kind: 'policy', reason: 'operator rollback from the dashboard' })}
        >
          Roll back to previous
        </button>
        <select value={pick} onChange={(e) => setPick((e.target as HTMLSelectElement).value)} aria-label="policy to activate">
          <option value="">choose a version…</option>
          {policies.map((p) => (
            <option key={p.id} value={String(p.id)}>
              {p.version}
            </option>
          ))}
        </select>
        <button
          class="btn"
          disabled={!pick}
          onClick={() =>
            void act(`Activate policy ${policies.find((p) => String(p.id) === pick)?.version ?? pick}`, `/models/${pick}/activate`, {
              reason: 'operator activation from the dashboard',
            })
          }
        >
          Validate and activate
        </button>
      </div>
      <div class="table-wrap">
        <table class="table small" data-testid="swap-history">
          <thead>
            <tr>
              <th>time</th>
              <th>event</th>
              <th>version</th>
              <th>validation</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={4} class="muted">
                  No activations or swaps recorded yet.
                </td>
              </tr>
            )}
            {rows.map((r, i) => (
              <tr key={i} title={r.reason ?? ''}>
                <td class="mono nowrap" title={dateTime(r.time)}>
                  {shortTime(r.time)}
                </td>
                <td>
                  <span class={`pill ${r.kind === 'rejected' ? 'bad' : r.kind === 'flagged' || r.kind === 'rollback' ? 'warn' : 'ok'}`}>{r.kind}</span>
                  {r.by ? <span class="muted"> by {r.by}</span> : null}
                </td>
                <td class="mono">{r.version ?? '–'}</td>
                <td>{r.kind === 'rejected' && !r.validation ? <span class="muted">{r.reason}</span> : validationText(r.validation)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
});

// ------------------------------------------------------------------ sessions, episodes, scrubber

function outcomePill(o: string | null) {
  return <span class={`pill ${o === 'success' ? 'ok' : o === 'failure' ? 'warn' : o === null ? '' : 'bad'}`}>{o ?? 'open'}</span>;
}

function EpisodeViewer({ id }: { id: number }) {
  const { data: ep, error } = usePoll<EpisodeRecord & { transitions: EpisodeTransition[] }>(`/episodes/${id}`, id);
  const [i, setI] = useState(0);
  const ts = ep?.transitions ?? [];
  useEffect(() => setI(0), [id]);
  const t = ts[Math.min(i, Math.max(0, ts.length - 1))];
  const mark = useRef(0);
  mark.current = i;
  const opts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      scales: { x: { time: false }, y: { range: [0, 1] }, f: {} },
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { ...axisStyle, label: 'step', labelSize: 14, size: 36 },
        { ...axisStyle, label: 'reward', labelSize: 14, size: 40 },
        { ...axisStyle, scale: 'f', side: 1, label: 'Fz (N)', labelSize: 14, size: 46, grid: { show: false } },
      ],
      series: [{ label: 'step' }, { label: 'predicted reward', stroke: '#7048e8', width: 2 }, { label: 'Fz', stroke: '#2b6cd4', width: 1.5, scale: 'f' }],
      hooks: {
        draw: [
          (u) => {
            const x = Math.round(u.valToPos(mark.current, 'x', true));
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = '#0f172a';
            ctx.lineWidth = 1.5;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
          },
        ],
      },
    }),
    [],
  );
  const data = useMemo<AlignedData>(() => [ts.map((x) => x.step), ts.map((x) => x.rewardProb), ts.map((x) => x.wrench[2] ?? null)], [ts]);
  // Re-draw the marker: new data object with the same arrays is cheap for uPlot.
  const marked = useMemo<AlignedData>(() => [...data] as AlignedData, [data, i]);
  if (error) return <div class="error">{error}</div>;
  if (!ep) return <div class="muted">loading episode {id}…</div>;
  return (
    <div class="viewer" data-testid="episode-viewer">
      <div class="viewer-top">
        <div class="frame small">{t ? <img src={t.imageUrl} alt={`episode ${id} step ${t.step}`} /> : <div class="frame-empty">no frames logged</div>}</div>
        <div class="viewer-info">
          <div>
            <b>Episode {ep.id}</b> · {ep.domain} · scenario {ep.scenario ?? '–'} · {outcomePill(ep.outcome)}
          </div>
          <div class="muted small">
            {ep.reason ?? ''} policy {ep.policyVersion ?? 'P only'} · learned {fmt(ep.learnedSuccessProb, 2)} · ground truth{' '}
            {ep.gtSuccess === null ? 'n/a' : ep.gtSuccess ? 'seated' : 'not seated'}
          </div>
          {t && (
            <dl class="kv compact mono">
              <dt>step</dt>
              <dd>
                {t.step} / {ts.length - 1}
              </dd>
              <dt>reward</dt>
              <dd>{fmt(t.rewardProb, 3)}</dd>
              <dt>F (N)</dt>
              <dd>
                {t.wrench
                  .slice(0, 3)
                  .map((v) => fmt(v, 2))
                  .join(' ')}
              </dd>
              <dt>P (mm)</dt>
              <dd>{[0, 1, 2].map((k) => mm(t.actionP?.[k])).join(' ')}</dd>
              <dt>residual</dt>
              <dd>{[0, 1, 2].map((k) => mm(t.actionResidual?.[k])).join(' ')}</dd>
              <dt>tip − x*</dt>
              <dd>{[0, 1, 2].map((k) => mm((t.eePos[k] ?? 0) - (t.goal[k] ?? 0), 1)).join(' ')}</dd>
            </dl>
          )}
        </div>
      </div>
      <input
        class="scrubber"
        type="range"
        min={0}
        max={Math.max(0, ts.length - 1)}
        step={1}
        value={i}
        onInput={(e) => setI(Number((e.target as HTMLInputElement).value))}
        aria-label="step in episode"
        data-testid="scrubber"
      />
      {ts.length > 1 && <Plot opts={opts} data={marked} height={140} maxHz={30} label="reward and Fz through the episode" />}
    </div>
  );
}

export const SessionsCard = memo(function SessionsCard({ tick }: { tick: number }) {
  const { data: sessions } = usePoll<SessionRecord[]>('/sessions?limit=50', tick);
  const [sid, setSid] = useState<number | null>(null);
  const current = sid ?? sessions?.[0]?.id ?? null;
  const { data: eps } = usePoll<EpisodeRecord[]>(current === null ? null : `/episodes?sessionId=${current}&limit=200`, `${current}/${tick}`);
  const [sel, setSel] = useState<number | null>(null);
  return (
    <Card title="Sessions and episodes" id="sessions" wide aside={<span class="muted small">{sessions ? `${sessions.length} sessions` : ''}</span>}>
      <div class="sessions">
        <div class="ep-list">
          <label class="inline">
            Session
            <select value={current ?? ''} onChange={(e) => (setSid(Number((e.target as HTMLSelectElement).value)), setSel(null))}>
              {(sessions ?? []).map((x) => (
                <option key={x.id} value={x.id}>
                  #{x.id} · {dateTime(x.startedAt)} · {x.episodeCount} episodes{x.endedAt === null ? ' · live' : ''}
                </option>
              ))}
            </select>
          </label>
          <div class="table-wrap tall">
            <table class="table small clickable" data-testid="episodes">
              <thead>
                <tr>
                  <th>#</th>
                  <th>connector</th>
                  <th>outcome</th>
                  <th>learned</th>
                  <th>truth</th>
                  <th>steps</th>
                </tr>
              </thead>
              <tbody>
                {(eps ?? []).map((e) => (
                  <PickRow key={e.id} selected={sel === e.id} onPick={() => setSel(e.id)}>
                    <td class="mono">{e.id}</td>
                    <td>
                      {e.domain} <span class="muted">{e.scenario ?? ''}</span>
                    </td>
                    <td>{outcomePill(e.outcome)}</td>
                    <td class="mono">{fmt(e.learnedSuccessProb, 2)}</td>
                    <td>{e.gtSuccess === null ? '–' : e.gtSuccess ? '✓' : '✗'}</td>
                    <td class="mono">{e.transitionCount}</td>
                  </PickRow>
                ))}
                {eps && eps.length === 0 && (
                  <tr>
                    <td colSpan={6} class="muted">
                      No episodes in this session yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </div>
        <div class="ep-view">
          {sel !== null ? <EpisodeViewer id={sel} /> : <div class="empty">Choose an episode to scrub through its frames, reward and wrench.</div>}
        </div>
      </div>
    </Card>
  );
});

// ------------------------------------------------------------------ event log

const TONE: Record<string, string> = {
  trip: 'bad',
  estop: 'bad',
  fault: 'bad',
  swap_rejected: 'bad',
  log_dropped: 'bad',
  swap_flagged: 'warn',
  rollback: 'warn',
  estop_reset_refused: 'warn',
  swap: 'ok',
  estop_reset: 'ok',
  practice: '',
};

export const EventsCard = memo(function EventsCard({ tick }: { tick: number }) {
  const { data: events } = usePoll<EventRecord[]>('/event-log?limit=60', tick, 4000);
  return (
    <Card title="Event log" id="events">
      <div class="table-wrap tall">
        <table class="table small" data-testid="event-log">
          <tbody>
            {(events ?? []).map((e) => (
              <tr key={e.id}>
                <td class="mono nowrap">{clock(e.time)}</td>
                <td>
                  <span class={`pill ${TONE[e.kind] ?? ''}`}>{e.kind}</span>
                </td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
});

export type { DaemonStatus };
