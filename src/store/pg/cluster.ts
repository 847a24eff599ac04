/**
 * A throw-away PostgreSQL cluster on loopback for tests and the fleet demo: Debian's server binaries
 * (/usr/lib/postgresql/<major>/bin, package `postgresql`), initdb into a temporary directory, a free TCP port on
 * 127.0.0.1, the unix socket in the same directory, password (scram) authentication for one superuser. PostgreSQL
 * refuses to run as root, so as root the cluster runs as the `postgres` user the Debian package creates (runuser).
 * `scripts/pg-cluster.sh` does the same from a shell. Nothing here imports `pg`: it only runs the server's programs.
 *
 * The cluster dies with its owner: pg_ctl detaches the server (its own session), so a hard-killed test or demo would
 * leave it running. A watchdog (a detached shell, its own session too, so a kill of the owner's process group spares
 * it) polls the owner's pid every second and, once the owner is gone, stops the server (immediate) and removes the
 * directory. As a second line, every start first removes the clusters of owners that are gone (`owner` file: pid and
 * the process start time, so a recycled pid is not mistaken for the owner).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The server's bin directory ($PG_BINDIR, else the newest /usr/lib/postgresql/N/bin with initdb), or null. */
export function pgBinDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.PG_BINDIR) return existsSync(join(env.PG_BINDIR, 'initdb')) ? env.PG_BINDIR : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((d) => /^\d+$/.test(d) && existsSync(join(root, d, 'bin', 'initdb')))
    .map(Number)
    .sort((a, b) => b - a);
  return majors.length ? join(root, String(majors[0]), 'bin') : null;
}

/** Why a throw-away cluster cannot start here, or null when it can (tests skip with this reason). */
export function pgUnavailable(): string | null {
  const bin = pgBinDir();
  if (!bin) return 'PostgreSQL server binaries not installed (Debian package `postgresql`; scripts/install-system-deps.sh installs it)';
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0)
    return 'running as root and there is no `postgres` user to run the server as';
  return null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or null when it does not exist. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const PREFIX = 'fleet-pg-';

/** Whether a cluster directory's owner (its `owner` file) is gone; false when it has no owner file (not ours to judge). */
function ownerGone(dir: string): boolean {
  let o: { pid: number; start: string | null };
  try {
    o = JSON.parse(readFileSync(join(dir, 'owner'), 'utf8')) as { pid: number; start: string | null };
  } catch {
    return false;
  }
  const now = processStartTime(o.pid);
  return now === null || (o.start !== null && now !== o.start);
}

/**
 * Stops and removes the throw-away clusters under `root` (default the temporary directory) whose owner process is
 * gone; returns their directories. Directories without an owner file (older runs, the shell script's) are left alone.
 */
export function cleanStaleClusters(root = tmpdir()): string[] {
  const bin = pgBinDir();
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root).filter((d) => d.startsWith(PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const dir = join(root, name);
    if (!ownerGone(dir)) continue;
    if (bin && existsSync(join(dir, 'data', 'postmaster.pid'))) {
      const asRoot = process.getuid?.() === 0;
      const args = ['-D', join(dir, 'data'), '-m', 'immediate', '-w', '-t', '30', 'stop'];
      const cmd = asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : [join(bin, 'pg_ctl'), ...args];
      spawnSync(cmd[0] as string, cmd.slice(1), { stdio: 'ignore', timeout: 40_000 });
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** The watchdog: a detached shell that stops the server and removes `dir` once `owner` has exited (or `dir` is gone). */
function startWatchdog(dir: string, stopCmd: string[], owner: number): number | undefined {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    `while kill -0 ${owner} 2>/dev/null && [ -d ${q(dir)} ]; do sleep 1; done`,
    `[ -d ${q(dir)} ] || exit 0`,
    `[ -f ${q(join(dir, 'data', 'postmaster.pid'))} ] && ${stopCmd.map(q).join(' ')} >/dev/null 2>&1`,
    `rm -rf ${q(dir)}`,
  ].join('\n');
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
  return w.pid;
}

export interface PgCluster {
  dir: string;
  /** The watchdog's pid (it exits by itself once the directory is gone). */
  watchdogPid: number | undefined;
  port: number;
  user: string;
  password: string;
  database: string;
  /** libpq environment for clients (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). */
  env: Record<string, string>;
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  /** Stops the server (fast shutdown: clients are disconnected) and keeps the data: for link-loss tests. */
  stop(): void;
  /** Starts it again on the same port. */
  start(): void;
  /** Stops it and removes the directory. */
  destroy(): void;
}

/**
 * initdb + start; throws with the server's own output when it cannot. About 1-2 s. In `root` (default the temporary
 * directory); `watchdog: false` (tests of the stale-cluster cleanup only) starts no watchdog.
 */
export async function startPgCluster(o: { user?: string; database?: string; watchdog?: boolean; root?: string } = {}): Promise<PgCluster> {
  const why = pgUnavailable();
  if (why) throw new Error(why);
  const bin = pgBinDir() as string;
  const asRoot = process.getuid?.() === 0;
  const root = o.root ?? tmpdir();
  cleanStaleClusters(root);
  const dir = mkdtempSync(join(root, PREFIX));
  writeFileSync(join(dir, 'owner'), JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) }));
  const data = join(dir, 'data');
  const user = o.user ?? 'fleet';
  const database = o.database ?? 'fleet';
  const password = randomBytes(18).toString('base64url');
  const port = await freePort();
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  chmodSync(dir, 0o700);
  const run = (prog: string, args: string[], env?: Record<string, string>): string => {
    const cmd = asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, prog), ...args] : [join(bin, prog), ...args];
    const r = spawnSync(cmd[0] as string, cmd.slice(1), {
      encoding: 'utf8',
      cwd: dir,
      // initdb took over 60 s at a load of 50 on this 2-core machine.
      timeout: 300_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    if (r.status !== 0) throw new Error(`${prog} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim().slice(-2000)}`);
    return r.stdout;
  };
  run('initdb', ['-D', data, '-U', user, '--pwfile', pwfile, '--auth', 'scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync']);
  rmSync(pwfile);
  // Loopback only; the socket in the temporary directory; fsync off (a throw-away cluster; not a durability test).
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=32MB`;
  const start = (): void => void run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', opts, '-w', '-t', '240', 'start']);
  const stop = (): void => void run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '240', 'stop']);
  const pgctl = (args: string[]): string[] => (asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : [join(bin, 'pg_ctl'), ...args]);
  // Before the server starts, so that no moment exists in which it runs unwatched.
  const watchdogPid = o.watchdog === false ? undefined : startWatchdog(dir, pgctl(['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']), process.pid);
  start();
  run('createdb', ['-w', '-h', dir, '-p', String(port), '-U', user, database], { PGPASSWORD: password });
  const env = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user, PGPASSWORD: password, PGDATABASE: database };
  let running = true;
  return {
    dir,
    watchdogPid,
    port,
    user,
    password,
    database,
    env,
    url: `postgres://${user}:${password}@127.0.0.1:${port}/${database}`,
    stop: () => {
      if (running) stop();
      running = false;
    },
    start: () => {
      if (!running) start();
      running = true;
    },
    destroy: () => {
      try {
        if (running) stop();
      } catch {
        // already down
      }
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
