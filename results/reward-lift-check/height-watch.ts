// The height-refusal watch (src/daemon/scoring.ts heightRefusalCluster, HEIGHT_WATCH) on earlier runs: would it warn?
// - A run directory (its daemon-*.db): every judged episode (practice and the evaluations' trials, in the daemon's
//   order) as the daemon fed it to the watch (classifier success: its probability >= 0.5, from the refusal's reason
//   where a check refused it; a height refusal with its tip height above x* from the reason), the rule replayed
//   episode by episode, and the 'height_warning' events the daemon logged.
// - A false-successes .txt (results/reward-lift-check/false-successes.ts output, for runs whose logs are gone): only the
//   refusals are listed there, not every classifier success, so this reports the largest number of height refusals at
//   one height (within bandM) in any `window` episodes, against minCount. The learned false successes whose last
//   logged tip stood more than 4 mm above seated are counted with them (in runs without the height check, the refusals
//   they would have been; an upper bound: a plug still moving down may have ended lower).
// Usage: npx tsx results/reward-lift-check/height-watch.ts RUN_DIR|FILE.txt...
import { readFileSync, statSync } from 'node:fs';
import { HEIGHT_WATCH, heightRefusalCluster, type JudgedFinal } from '../../src/daemon/scoring.ts';
import { openReadOnly } from '../../src/store/open.ts';
import { runLogs } from '../../src/experiment/compare.ts';

const s = HEIGHT_WATCH;
const settings = `window ${s.window}, minCount ${s.minCount}, minShare ${s.minShare}, band ${1000 * s.bandM} mm`;

/** The largest number of heights (mm, by episode index) within the band in any `window` consecutive episodes. */
function maxAtOneHeight(refusals: Array<{ ep: number; mm: number }>): { n: number; at: string } {
  let best = { n: 0, at: '-' };
  for (const a of refusals) {
    const inWin = refusals.filter((r) => r.ep >= a.ep && r.ep < a.ep + s.window);
    for (const b of inWin) {
      const group = inWin.filter((r) => r.mm >= b.mm && r.mm <= b.mm + 1000 * s.bandM + 1e-9);
      if (group.length > best.n) best = { n: group.length, at: `ep#${group.map((r) => r.ep).join(',')} at ${group.map((r) => r.mm.toFixed(1)).join(' ')} mm` };
    }
  }
  return best;
}

function fromText(file: string): void {
  for (const b of readFileSync(file, 'utf8').split(/\n(?=\S)/)) {
    const name = (b.split('\n')[0] ?? '?').split(': ')[0]!.replace(/ false \d+ missed \d+$/, '');
    const refusals: Array<{ ep: number; mm: number }> = [];
    for (const m of b.matchAll(/refused ep#(\d+) [^\n]*?refused by the height check: tip ([\d.]+) mm above x\*/g)) refusals.push({ ep: Number(m[1]), mm: Number(m[2]) });
    const h = refusals.length;
    for (const m of b.matchAll(/ F ep#(\d+) p=[\d.]+ last logged obs: tip ([\d.]+) mm above seated/g)) {
      if (Number(m[2]) > 4) refusals.push({ ep: Number(m[1]), mm: Number(m[2]) });
    }
    const best = maxAtOneHeight(refusals);
    console.log(
      `${name}: ${h} height refusals + ${refusals.length - h} false successes last logged > 4 mm up; most at one height in ${s.window} episodes: ${best.n} (${best.at}); ${best.n >= s.minCount ? 'MAY WARN' : 'cannot warn (< minCount)'}`,
    );
  }
}

function fromRun(run: string): void {
  const file = runLogs(run)[0]?.db;
  if (!file) throw new Error(`${run}: no daemon-*.db in a subfolder`);
  const db = openReadOnly(file);
  type Ep = { id: number; outcome: string; reason: string | null; p: number | null; gt: number | null };
  const eps = db
    .prepare("SELECT id, outcome, reason, learned_success_prob AS p, gt_success AS gt FROM episodes WHERE kind IN ('practice', 'eval') ORDER BY id")
    .all() as Ep[];
  const judged = eps.filter((e) => (e.outcome === 'success' || e.outcome === 'failure') && e.p !== null);
  const items: JudgedFinal[] = judged.map((e) => {
    const raw = e.reason ? /classifier ([\d.]+)/.exec(e.reason) : null;
    const h = e.reason && !/lift check/.test(e.reason) ? /height check: tip ([\d.]+) mm above x\*/.exec(e.reason) : null;
    return { episodeId: e.id, classifierSuccess: Number(raw?.[1] ?? e.p) >= 0.5, heightRefused: h !== null, heightM: h ? Number(h[1]) / 1000 : null };
  });
  let first: string | null = null;
  let peak = { count: 0, share: 0 };
  for (let i = 0; i < items.length; i++) {
    const w = items.slice(Math.max(0, i + 1 - s.window), i + 1);
    const c = heightRefusalCluster(w, { ...s, minCount: 1, minShare: 0 });
    if (c && c.count / Math.max(1, c.classifierSuccesses) >= peak.share && c.count >= peak.count) peak = { count: c.count, share: c.count / c.classifierSuccesses };
    const hit = heightRefusalCluster(w, s);
    if (hit && first === null) {
      first = `judged episode ${i + 1}, id ${items[i]!.episodeId} (${hit.count} of ${hit.classifierSuccesses} classifier successes at ${(1000 * hit.minM).toFixed(1)}-${(1000 * hit.maxM).toFixed(1)} mm, median ${(1000 * hit.medianM).toFixed(1)} mm)`;
    }
  }
  const refusals = items.filter((e) => e.heightRefused).length;
  console.log(
    `${run}: ${items.length} judged, ${items.filter((e) => e.classifierSuccess).length} classifier successes, ${refusals} height refusals (seated ${judged.filter((e, i) => items[i]!.heightRefused && e.gt).length}); ` +
      `largest cluster in a window: ${peak.count} (${(100 * peak.share).toFixed(0)} % of that window's classifier successes); rule replayed: ${first ? `warns at ${first}` : 'no warning'}`,
  );
  const ev = db.prepare("SELECT message, episode_id AS ep FROM events WHERE kind = 'height_warning' ORDER BY id").all() as { message: string; ep: number }[];
  for (const e of ev) console.log(`  logged height_warning at episode id ${e.ep}: ${e.message}`);
  if (ev.length === 0) console.log('  no height_warning logged');
}

console.log(`HEIGHT_WATCH: ${settings}`);
for (const a of process.argv.slice(2)) (statSync(a).isDirectory() ? fromRun : fromText)(a);
