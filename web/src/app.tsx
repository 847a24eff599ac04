/** The operator's page: header with state and the e-stop, then the panels. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type Box, type Notice, dismiss, estop, forgetToken, hasToken, notices, tokenRequest } from './api.ts';
import { LiveModel } from './live.ts';
import { ActionsCard, CameraCard, PracticeCard, RewardCard, SafetyCard, TimingCard, WrenchCard } from './panels-live.tsx';
import { EventsCard, LearningCard, PolicyCard, SessionsCard } from './panels-log.tsx';
import { ReplayCard } from './panels-replay.tsx';
import { LabelsCard } from './panels-labels.tsx';

function useBox<T>(b: Box<T>): T {
  const [v, setV] = useState(b.value);
  useEffect(() => b.subscribe(setV), [b]);
  return v;
}

/** The daemon's e-stop listener, if it runs one (src/daemon/estop-listener.ts). */
function estopUrlOf(m: LiveModel): string | null {
  const api = m.status?.extra['api'] as { estopUrl?: unknown } | undefined;
  return typeof api?.estopUrl === 'string' ? api.estopUrl : null;
}

function Header({ m }: { m: LiveModel }) {
  const s = m.status;
  const token = useBox(hasToken);
  const engaged = s?.safety.estop.engaged ?? false;
  const run = s?.practice;
  return (
    <header class={`top${engaged ? ' estopped' : ''}`}>
      <div class="brand">
        <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true">
          <rect width="32" height="32" rx="6" fill="#1e293b" />
          <path d="M10 7h12v9h-4v9h-4v-9h-4z" fill="#38bdf8" />
        </svg>
        <div>
          <div class="brand-name">insertion-daemon</div>
          <div class="brand-sub">{s ? `${s.backend === 'sim' ? 'simulated cell' : s.backend} · ${s.tickHz} Hz` : 'connecting…'}</div>
        </div>
      </div>
      <div class="top-status">
        <span class={`conn ${m.connected ? 'on' : 'off'}`} title={m.connected ? 'live: event stream connected' : 'event stream disconnected: reconnecting'}>
          {m.connected ? 'live' : 'offline'}
        </span>
        <span class={`state-badge state-${s?.state ?? 'unknown'}`} data-testid="state">
          {s ? s.state : '…'}
        </span>
        <span class="top-item">
          <span class="muted">practice</span> {run ? `${run.done}/${run.count} · ${run.domain}` : '–'}
        </span>
        <span class="top-item">
          <span class="muted">policy</span> <span class="mono">{s?.policy.version ?? 'P only'}</span>
        </span>
        <span class="top-item token">
          {token ? (
            <>
              token held ·{' '}
              <button class="link" onClick={forgetToken}>
                forget
              </button>
            </>
          ) : (
            <span class="muted" title="State-changing actions ask for the API token once; it is kept for this tab only">
              no token
            </span>
          )}
        </span>
      </div>
      <button
        class="estop"
        onPointerDown={() => void estop(estopUrlOf(m))}
        onClick={() => void estop(estopUrlOf(m))}
        data-testid="estop"
        title="Engage the e-stop: holds the arm now. No token needed."
      >
        <span class="estop-ring" aria-hidden="true" />
        E-STOP
      </button>
    </header>
  );
}

function Notices() {
  const list = useBox(notices);
  return (
    <div class="notices" aria-live="assertive" role="status" data-testid="notices">
      {list.map((n: Notice) => (
        <div class={`notice ${n.kind}`} key={n.id} role={n.kind === 'error' ? 'alert' : undefined}>
          <span>{n.text}</span>
          <button class="link" aria-label="dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

function TokenDialog() {
  const req = useBox(tokenRequest);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (req) input.current?.focus();
  }, [req]);
  if (!req) return null;
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="token-h">
      <form
        class="dialog"
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          const v = input.current?.value.trim() ?? '';
          req.answer(v || null);
        }}
      >
        <h2 id="token-h">API token needed</h2>
        <p>
          <b>{req.action}</b> changes the daemon's state. Enter the bearer token <code>npm start</code> printed (or <code>DAEMON_TOKEN</code>).
        </p>
        <input ref={input} type="password" autocomplete="off" spellcheck={false} placeholder="token" aria-label="API token" data-testid="token-input" />
        <p class="muted small">Kept for this browser tab only (sessionStorage) and sent only in the Authorization header, never in a URL.</p>
        <div class="actions end">
          <button class="btn" type="button" onClick={() => req.answer(null)} data-testid="token-cancel">
            Cancel
          </button>
          <button class="btn primary" type="submit" data-testid="token-ok">
            Use token
          </button>
        </div>
      </form>
    </div>
  );
}

export function App() {
  const m = useMemo(() => new LiveModel(), []);
  const [, setN] = useState(0);
  useEffect(() => {
    const off = m.subscribe(() => setN((n) => n + 1));
    m.start();
    return () => {
      off();
      m.stop();
    };
  }, [m]);
  const s = m.status;
  const last = m.steps[m.steps.length - 1] ?? null;
  return (
    <>
      <Header m={m} />
      <Notices />
      <TokenDialog />
      <main class="grid">
        <CameraCard f={m.frame} step={last} />
        <PracticeCard s={s} live={last} />
        <SafetyCard s={s} />
        <WrenchCard steps={m.steps} />
        <RewardCard steps={m.steps} last={m.lastEpisode} />
        <ActionsCard steps={m.steps} />
        <LearningCard s={s} tick={m.episodeTick} losses={m.losses} />
        <LabelsCard s={s} />
        <TimingCard s={s} history={m.timing} />
        <SessionsCard tick={m.episodeTick} />
        <PolicyCard s={s} tick={m.episodeTick} />
        <ReplayCard tick={m.episodeTick} />
        <EventsCard tick={m.episodeTick} />
      </main>
      <footer class="foot muted small">
        Live from the daemon’s <code>/live</code> stream; API reference at <a href="/openapi.json">/openapi.json</a>.
      </footer>
    </>
  );
}
