/**
 * A throw-away PostgreSQL cluster on loopback for tests and the fleet demo: Debian's server binaries
 * (/usr/lib/postgresql/<major>/bin, package `postgresql`), initdb into a temporary directory, a free TCP port on
 * 127.0.0.1, the unix socket in the same directory, password (scram) authentication for one superuser. PostgreSQL
 * refuses to run as root, so as root the cluster runs as the `postgres` user the Debian package creates (runuser).
 * `scripts/pg-cluster.sh` does the same from a shell. Nothing here imports `pg`: it only runs the server's programs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

export interface PgCluster {
  dir: string;
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

/** initdb + start; throws with the server's own output when it cannot. About 1-2 s. */
export async function startPgCluster(o: { user?: string; database?: string } = {}): Promise<PgCluster> {
  const why = pgUnavailable();
  if (why) throw new Error(why);
  const bin = pgBinDir() as string;
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'fleet-pg-'));
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
      timeout: 60_000,
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
  const start = (): void => void run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
  const stop = (): void => void run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
  start();
  run('createdb', ['-w', '-h', dir, '-p', String(port), '-U', user, database], { PGPASSWORD: password });
  const env = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user, PGPASSWORD: password, PGDATABASE: database };
  let running = true;
  return {
    dir,
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
