/** Panels fed by the live streams: safety, practice, camera, wrench, reward per step, actions, tick timing. */
import { memo } from 'preact/compat';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { AlignedData, Options } from 'uplot';
import { act } from './api.ts';
import type { Frame, TimingSample } from './live.ts';
import { Plot, XYZ, axisStyle } from './plot.tsx';
import type { ConnectorsReply, DaemonStatus, EpisodeSummary, EventRecord, LiveStep } from './types.ts';
import { ago, clock, fmt, isNum, mm, pct, usePoll } from './util.ts';

export function Card(props: { title: string; id: string; wide?: boolean; aside?: preact.ComponentChildren; children: preact.ComponentChildren }) {
  return (
    <section class={`card${props.wide ? ' wide' : ''}`} id={props.id} aria-labelledby={`${props.id}-h`}>
      <header class="card-h">
        <h2 id={`${props.id}-h`}>{props.title}</h2>
        {props.aside && <div class="card-aside">{props.aside}</div>}
      </header>
      {props.children}
    </section>
  );
}

/** A table row an operator picks with a click or Enter (episode and replay lists). */
export function PickRow(props: { selected: boolean; onPick: () => void; children: preact.ComponentChildren }) {
  return (
    <tr class={props.selected ? 'selected' : ''} onClick={props.onPick} tabIndex={0} onKeyDown={(k) => k.key === 'Enter' && props.onPick()}>
      {props.children}
    </tr>
  );
}

export function Metric(props: {
  label: string;
  value: string;
  unit?: string;
  tone?: 'ok' | 'warn' | 'bad' | undefined;
  testid?: string;
  big?: boolean;
  text?: boolean;
}) {
  return (
    <div class={`metric${props.tone ? ` ${props.tone}` : ''}${props.big ? ' big' : ''}${props.text ? ' text' : ''}`} title={`${props.label}: ${props.value}`}>
      <div class="metric-l">{props.label}</div>
      <div class="metric-v" data-testid={props.testid}>
        {props.value}
        {props.unit && <span class="unit">{props.unit}</span>}
      </div>
    </div>
  );
}

// ------------------------------------------------------------------ safety

const SAFETY_KINDS = new Set(['trip', 'estop', 'estop_note', 'estop_reset', 'estop_reset_refused', 'fault']);

export const SafetyCard = memo(function SafetyCard({ s }: { s: DaemonStatus | null }) {
  // Refetched when the trip or the latch changes.
  const key = `${s?.safety.lastTrip?.at ?? 0}/${s?.safety.estop.engaged ?? false}/${s?.policy.faults ?? 0}`;
  const { data: events } = usePoll<EventRecord[]>('/event-log?limit=200', key);
  const recent = (events ?? []).filter((e) => SAFETY_KINDS.has(e.kind)).slice(0, 5);
  const latch = s?.safety.estop;
  const trip = s?.safety.lastTrip ?? null;
  const backend = s?.safety.backendEstop;
  const engaged = latch?.engaged ?? false;
  return (
    <Card title="Safety" id="safety">
      <div class={`latch ${engaged ? 'engaged' : 'clear'}`} data-testid="latch">
        <div class="latch-state">{s ? (engaged ? 'E-STOP ENGAGED' : 'E-stop clear') : '…'}</div>
        {engaged && latch && (
          <div class="latch-detail">
            {latch.source}
            {latch.detail ? `: ${latch.detail}` : ''}
          </div>
        )}
      </div>
      <dl class="kv">
        <dt>Robot-side e-stop</dt>
        <dd>{backend ? (backend.engaged ? `engaged (${backend.source ?? 'unknown'})` : 'clear') : '–'}</dd>
        <dt>Last trip</dt>
        <dd data-testid="last-trip">
          {trip ? (
            <>
              <span class="pill bad">{trip.reason}</span> {trip.detail}
              <div class="muted small">
                {clock(trip.at)} · {ago(trip.at)}
                {trip.episodeId !== null ? ` · episode ${trip.episodeId}` : ''}
              </div>
            </>
          ) : (
            'none since the daemon started'
          )}
        </dd>
      </dl>
      <div class="actions">
        <button
          class="btn"
          disabled={!engaged}
          onClick={() => void act('Reset e-stop', '/estop/reset')}
          title="Needs the API token; refused while the source is still engaged"
        >
          Reset e-stop
        </button>
        <span class="muted small">{engaged ? 'needs the token; refused while the source is engaged' : ''}</span>
      </div>
      <div class="sub-h">Recent safety events</div>
      <ul class="events-mini" data-testid="safety-events">
        {recent.length === 0 && <li class="muted">none logged</li>}
        {recent.map((e) => (
          <li key={e.id}>
            <span class="mono muted">{clock(e.time)}</span>{' '}
            <span class={`pill ${e.kind === 'estop_reset' ? 'ok' : e.kind === 'estop_note' ? '' : 'bad'}`}>{e.kind}</span> {e.message}
          </li>
        ))}
      </ul>
    </Card>
  );
});

// ------------------------------------------------------------------ practice

export const PracticeCard = memo(function PracticeCard({ s, live }: { s: DaemonStatus | null; live: LiveStep | null }) {
  const { data: conn } = usePoll<ConnectorsReply>('/connectors', 0);
  const [domain, setDomain] = useState('');
  const [scenario, setScenario] = useState<'I' | 'II'>('II');
  const [count, setCount] = useState(10);
  // Empty: the daemon's own default (practice.explorationNoise) applies; the page keeps no copy of it.
  const [noiseMm, setNoiseMm] = useState<number | null>(null);
  const run = s?.practice ?? null;
  const ep0 = s?.episode ?? null;
  // Status comes about once a second; the live steps say where the episode is now.
  const ep = ep0 && live && live.episodeId === ep0.id ? { ...ep0, step: Math.max(ep0.step, live.step + 1) } : ep0;
  const start = (e: Event): void => {
    e.preventDefault();
    const body: Record<string, unknown> = { count, scenario };
    if (noiseMm !== null) body['explorationNoise'] = Math.round(noiseMm * 1e3) / 1e6;
    if (domain) body['domain'] = domain;
    void act('Start practice', '/practice/start', body);
  };
  return (
    <Card title="Practice" id="practice" aside={s && <span class={`pill state-${s.state}`}>{s.state}</span>}>
      <form class="form" onSubmit={start}>
        <label>
          Connector
          <select value={domain} onChange={(e) => setDomain((e.target as HTMLSelectElement).value)} data-testid="domain">
            <option value="">cell default</option>
            {conn?.connectors.map((c) => (
              <option value={c.name} key={c.name} title={`${c.family} family`}>
                {c.name}
                {c.heldOut ? ' (held out)' : ''}
              </option>
            ))}
          </select>
        </label>
        <label>
          Scenario
          <select value={scenario} onChange={(e) => setScenario((e.target as HTMLSelectElement).value as 'I' | 'II')}>
            <option value="I">I · within 10 mm</option>
            <option value="II">II · 10–20 mm away</option>
          </select>
        </label>
        <label>
          Episodes
          <input
            type="number"
            min={1}
            max={100000}
            step={1}
            value={count}
            onInput={(e) => setCount(Number((e.target as HTMLInputElement).value))}
            data-testid="count"
          />
        </label>
        <label>
          <span title="std dev of the exploration noise added to the residual">Noise σ (mm)</span>
          <input
            type="number"
            min={0}
            max={50}
            step={0.1}
            placeholder="default"
            value={noiseMm ?? ''}
            onInput={(e) => {
              const v = (e.target as HTMLInputElement).value;
              setNoiseMm(v === '' ? null : Number(v));
            }}
          />
        </label>
        <div class="actions span2">
          <button class="btn primary" type="submit" disabled={run !== null} data-testid="start">
            Start practice
          </button>
          <button class="btn" type="button" disabled={run === null} onClick={() => void act('Stop practice', '/practice/stop')}>
            Stop after this episode
          </button>
        </div>
      </form>
      <div class="progress-block">
        <div class="row-between">
          <span>
            {run ? (
              <>
                Run {run.id}: <b data-testid="episode-counter">{run.done}</b> of {run.count} episodes · {run.domain} · {run.scenario}
                {run.stopRequested ? ' · stopping' : ''}
              </>
            ) : (
              <span class="muted">No practice running</span>
            )}
          </span>
          {ep && (
            <span class="mono">
              ep {ep.id} · step {ep.step}/{ep.steps}
            </span>
          )}
        </div>
        <div class="bar" aria-hidden="true">
          <div class="bar-fill" style={{ width: `${run ? (100 * (run.done + (ep ? ep.step / Math.max(1, ep.steps) : 0))) / Math.max(1, run.count) : 0}%` }} />
        </div>
      </div>
    </Card>
  );
});

// ------------------------------------------------------------------ camera

export const CameraCard = memo(function CameraCard({ f, step }: { f: Frame | null; step: LiveStep | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    const ctx = c?.getContext('2d');
    if (!f || !c || !ctx) return;
    if (c.width !== f.width || c.height !== f.height) {
      c.width = f.width;
      c.height = f.height;
    }
    const bin = atob(f.rgb);
    const img = ctx.createImageData(f.width, f.height);
    for (let i = 0, j = 0; i < bin.length; i += 3, j += 4) {
      img.data[j] = bin.charCodeAt(i);
      img.data[j + 1] = bin.charCodeAt(i + 1);
      img.data[j + 2] = bin.charCodeAt(i + 2);
      img.data[j + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const fig = window.__dashboard;
    if (fig) {
      fig.frames++;
      fig.firstFrameMs ??= performance.now();
    }
  }, [f]);
  const err = step ? [0, 1, 2].map((i) => (step.eePos[i] ?? 0) - (step.goal[i] ?? 0)) : null;
  return (
    <Card
      title="Camera · policy input"
      id="camera"
      aside={
        f && (
          <span class="mono muted">
            ep {f.episodeId} · step {f.step}
          </span>
        )
      }
    >
      <div class="camera">
        <div class="frame">
          <canvas
            ref={canvas}
            data-testid="frame"
            data-seq={f?.seq ?? ''}
            role="img"
            aria-label={f ? `camera frame, episode ${f.episodeId} step ${f.step}` : 'no camera frame'}
            style={{ display: f ? 'block' : 'none' }}
          />
          {!f && <div class="frame-empty">No frame yet: start practice</div>}
        </div>
        <div class="camera-side">
          <Metric
            big
            label="Predicted reward"
            value={step && isNum(step.rewardProb) ? step.rewardProb.toFixed(2) : '–'}
            testid="reward-now"
            tone={step && isNum(step.rewardProb) ? (step.rewardProb >= 0.5 ? 'ok' : undefined) : undefined}
          />
          <Metric
            label="|F|"
            value={step ? fmt(Math.hypot(step.wrench[0] ?? 0, step.wrench[1] ?? 0, step.wrench[2] ?? 0), 1) : '–'}
            unit="N"
            testid="force-now"
          />
          <Metric text label="Tip − x* (x, y, z)" value={err ? err.map((v) => mm(v, 1)).join('  ') : '–'} unit="mm" />
          <Metric text label="Ground truth" value={step ? (step.gtSuccess === null ? 'n/a' : step.gtSuccess ? 'seated' : 'not seated') : '–'} />
        </div>
      </div>
    </Card>
  );
});

// ------------------------------------------------------------------ step traces

/** x = step sequence; a null point between episodes so lines do not join across a reset. */
function stepColumns(steps: LiveStep[], pick: Array<(s: LiveStep) => number | null>): AlignedData {
  const xs: number[] = [];
  const cols: Array<Array<number | null>> = pick.map(() => []);
  let prevEp: number | null = null;
  for (const s of steps) {
    if (prevEp !== null && s.episodeId !== prevEp) {
      xs.push(s.seq - 0.5);
      for (const c of cols) c.push(null);
    }
    prevEp = s.episodeId;
    xs.push(s.seq);
    pick.forEach((f, i) => cols[i]?.push(f(s)));
  }
  return [xs, ...cols] as AlignedData;
}

const xAxis = { ...axisStyle, values: (_u: unknown, vals: number[]) => vals.map((v) => String(v)), size: 30 };
const baseOpts = (yLabel: string): Omit<Options, 'width' | 'height' | 'series'> => ({
  scales: { x: { time: false } },
  legend: { show: true, live: false },
  cursor: { drag: { x: false, y: false }, points: { show: false } },
  axes: [xAxis, { ...axisStyle, label: yLabel, labelSize: 14, size: 46 }],
});

export const WrenchCard = memo(function WrenchCard({ steps }: { steps: LiveStep[] }) {
  const opts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      ...baseOpts('force (N)'),
      series: [{ label: 'step' }, ...['Fx', 'Fy', 'Fz'].map((l, i) => ({ label: l, stroke: XYZ[i], width: 1.5 }))],
    }),
    [],
  );
  const data = useMemo(
    () =>
      stepColumns(
        steps,
        [0, 1, 2].map((i) => (s: LiveStep) => s.wrench[i] ?? null),
      ),
    [steps],
  );
  const w = steps[steps.length - 1]?.wrench;
  return (
    <Card title="Wrist wrench" id="wrench" aside={<span class="muted small">bias-corrected, last {steps.length} steps</span>}>
      <Plot opts={opts} data={data} label="force trace" />
      <div class="num-row mono">
        {w ? (
          <>
            <span>F {[0, 1, 2].map((i) => fmt(w[i], 2)).join(' ')} N</span>
            <span>τ {[3, 4, 5].map((i) => fmt(w[i], 3)).join(' ')} N·m</span>
          </>
        ) : (
          <span class="muted">waiting for steps</span>
        )}
      </div>
    </Card>
  );
});

export const RewardCard = memo(function RewardCard({ steps, last }: { steps: LiveStep[]; last: EpisodeSummary | null }) {
  const opts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      ...baseOpts('P(seated)'),
      scales: { x: { time: false }, y: { range: [0, 1] } },
      series: [
        { label: 'step' },
        { label: 'predicted reward', stroke: '#7048e8', width: 2, fill: 'rgba(112,72,232,0.08)' },
        { label: 'ground truth', stroke: '#2f9e44', width: 1, dash: [4, 3], paths: undefined },
      ],
    }),
    [],
  );
  const data = useMemo(() => stepColumns(steps, [(s) => s.rewardProb, (s) => (s.gtSuccess === null ? null : s.gtSuccess ? 1 : 0)]), [steps]);
  return (
    <Card title="Reward per step" id="reward" aside={<span class="muted small">classifier P(seated), next frame</span>}>
      <Plot opts={opts} data={data} label="predicted reward trace" />
      <div class="num-row">
        {last ? (
          <span>
            Last episode {last.id}:{' '}
            <span class={`pill ${last.outcome === 'success' ? 'ok' : last.outcome === 'failure' ? 'warn' : 'bad'}`}>{last.outcome}</span> learned{' '}
            {fmt(last.learnedSuccessProb, 2)} · ground truth {last.gtSuccess === null ? 'n/a' : last.gtSuccess ? 'seated' : 'not seated'} · {last.steps} steps
          </span>
        ) : (
          <span class="muted">No episode finished since the page opened</span>
        )}
      </div>
    </Card>
  );
});

export const ActionsCard = memo(function ActionsCard({ steps }: { steps: LiveStep[] }) {
  const opts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      ...baseOpts('P action (mm)'),
      scales: { x: { time: false }, y: {}, r: {} },
      axes: [
        xAxis,
        { ...axisStyle, label: 'P (mm)', labelSize: 14, size: 46 },
        { ...axisStyle, scale: 'r', side: 1, label: 'residual (mm)', labelSize: 14, size: 46, grid: { show: false } },
      ],
      series: [
        { label: 'step' },
        ...['Px', 'Py', 'Pz'].map((l, i) => ({ label: l, stroke: XYZ[i], width: 1.5 })),
        ...['rx', 'ry', 'rz'].map((l, i) => ({ label: l, stroke: XYZ[i], width: 1.5, dash: [5, 4], scale: 'r' })),
      ],
    }),
    [],
  );
  const data = useMemo(
    () =>
      stepColumns(steps, [
        ...[0, 1, 2].map((i) => (s: LiveStep) => (s.actionP[i] ?? 0) * 1000),
        ...[0, 1, 2].map((i) => (s: LiveStep) => (s.actionResidual[i] ?? 0) * 1000),
      ]),
    [steps],
  );
  const s = steps[steps.length - 1];
  return (
    <Card title="Commanded actions" id="actions" aside={<span class="muted small">P solid · residual dashed</span>}>
      <Plot opts={opts} data={data} label="P and residual actions" />
      <table class="mini mono">
        <thead>
          <tr>
            <th />
            <th>x</th>
            <th>y</th>
            <th>z</th>
          </tr>
        </thead>
        <tbody>
          {(
            [
              ['P', s?.actionP],
              ['residual', s?.actionResidual],
              ['executed', s?.actionExecuted],
            ] as const
          ).map(([l, v]) => (
            <tr key={l}>
              <th>{l}</th>
              {[0, 1, 2].map((i) => (
                <td key={i}>{mm(v?.[i], 2)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <div class="muted small">mm per step, after the safety filter for “executed”</div>
    </Card>
  );
});

// ------------------------------------------------------------------ timing

export const TimingCard = memo(function TimingCard({ s, history }: { s: DaemonStatus | null; history: TimingSample[] }) {
  const t = s?.timing;
  const period = s ? 1000 / s.tickHz : 100;
  const opts = useMemo<Omit<Options, 'width' | 'height'>>(
    () => ({
      scales: { x: { time: true }, y: { distr: 3 } },
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      axes: [
        { ...axisStyle, size: 28 },
        { ...axisStyle, label: 'ms (log)', labelSize: 14, size: 46 },
      ],
      series: [
        {},
        { label: 'compute, newest tick', stroke: '#2b6cd4', width: 1.5 },
        { label: 'compute p99', stroke: '#d9453b', width: 1.5 },
        { label: 'start jitter', stroke: '#94a3b8', width: 1, dash: [4, 3] },
      ],
    }),
    [],
  );
  const pos = (v: number): number | null => (isNum(v) && v > 0 ? v : null);
  const data = useMemo<AlignedData>(
    () => [history.map((h) => h.t), history.map((h) => pos(h.computeLast)), history.map((h) => pos(h.computeP99)), history.map((h) => pos(h.jitterLast))],
    [history],
  );
  return (
    <Card
      title="Tick timing"
      id="timing"
      aside={
        s && (
          <span class="muted small">
            {s.realtime ? `${s.tickHz} Hz real time` : 'free-running'} · last {t?.computeMs.n ?? 0} ticks
          </span>
        )
      }
    >
      <div class="metrics">
        <Metric label="compute p50" value={fmt(t?.computeMs.p50, 2)} unit="ms" testid="p50" />
        <Metric
          label="compute p99"
          value={fmt(t?.computeMs.p99, 2)}
          unit="ms"
          testid="p99"
          tone={t && isNum(t.computeMs.p99) ? (t.computeMs.p99 <= 2 ? 'ok' : t.computeMs.p99 < period / 2 ? 'warn' : 'bad') : undefined}
        />
        <Metric
          label="missed (control)"
          value={t ? String(t.missedControl) : '–'}
          testid="missed"
          tone={t ? (t.missedControl === 0 ? 'ok' : 'bad') : undefined}
        />
        <Metric label="inference p50 / p99" value={t ? `${fmt(t.inferMs.p50, 2)} / ${fmt(t.inferMs.p99, 2)}` : '–'} unit="ms" />
        <Metric label="jitter p99" value={fmt(t?.jitterMs.p99, 2)} unit="ms" />
        <Metric label="robot (sim) p50" value={fmt(t?.backendMs.p50, 2)} unit="ms" />
      </div>
      {history.length > 1 ? (
        <Plot opts={opts} data={data} height={130} label="tick compute over time" />
      ) : (
        <div class="empty short">The timing trace starts with practice.</div>
      )}
      <div class="muted small">
        {t
          ? `${t.ticks} ticks, ${t.controlTicks} commanded; missed in any state ${t.missed}, of control misses ${t.missedControlBackend} after a slow robot step; CPU p99 ${fmt(t.computeCpuMs.p99, 2)} ms`
          : ''}
      </div>
    </Card>
  );
});

export { pct };
