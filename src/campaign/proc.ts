/** Child processes for the campaign: the real daemon command (src/cli/daemon.ts) and small helpers around it. */
import { SINGLE_THREADED_GC_FLAG } from '../daemon/gc-watch.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { withProcessCpus } from '../util/affinity.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Child {
  proc: ChildProcess;
  pid: number;
  lines: string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line matching `re` (rejects on exit or timeout; a function timeout is re-read as it
   *  waits, for limits that follow the load). */
  line(re: RegExp, timeoutMs: number | (() => number)): Promise<RegExpExecArray>;
}

/** Runs `node --import tsx <script> ...args` (no npx in between: the pid is the process itself). */
export function startTs(script: string, args: string[], env: Record<string, string> = {}): Child {
  // As npm start runs the daemon (SINGLE_THREADED_GC_FLAG: the control thread's collections on that thread alone).
  // Every CPU, also beside an in-process daemon with controlCpu (its main thread is pinned; children inherit that).
  const proc = withProcessCpus(() =>
    spawn(process.execPath, [SINGLE_THREADED_GC_FLAG, '--import', 'tsx', resolve(ROOT, script), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const lines: string[] = [];
  let err = '';
  let partial = '';
  const waiters: Array<() => void> = [];
  proc.stdout?.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => {
      r({ code, signal });
      for (const w of waiters.splice(0)) w();
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  const line = (re: RegExp, timeout: number | (() => number)): Promise<RegExpExecArray> =>
    new Promise((res, rej) => {
      const t0 = Date.now();
      const look = (): void => {
        for (const l of lines) {
          const m = re.exec(l);
          if (m) return res(m);
        }
        if (done) return rej(new Error(`process exited before printing ${String(re)}: ${lines.slice(-5).join(' | ')} ${err.slice(-800)}`));
        const timeoutMs = typeof timeout === 'number' ? timeout : timeout();
        if (Date.now() - t0 > timeoutMs) return rej(new Error(`no ${String(re)} within ${timeoutMs} ms: ${lines.slice(-5).join(' | ')} ${err.slice(-800)}`));
        waiters.push(look);
        setTimeout(look, 200).unref();
      };
      look();
    });
  return { proc, pid: proc.pid ?? -1, lines, stderr: () => err, exited, line };
}

/** Direct children of a process (Linux /proc), e.g. the trainer the daemon forked. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const f of [`/proc/${pid}/task/${pid}/children`]) {
      if (existsSync(f)) out.push(...readFileSync(f, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** CPU time (user + system, seconds) a process has used so far, from /proc/<pid>/stat (NaN when gone or not Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses: utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resident set (bytes) and open descriptors of a process, from /proc (Linux). */
export function procUsage(pid: number): { rssBytes: number; fds: number } {
  let rssBytes = NaN;
  let fds = NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) rssBytes = Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // not Linux
  }
  return { rssBytes, fds };
}
