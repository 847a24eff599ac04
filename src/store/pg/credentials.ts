/**
 * Where the fleet's PostgreSQL is and how to log in: never from the config in the repo. In order: a credentials file
 * named by the config (`fleet.credentialsFile`: a postgres:// URL, or PGHOST=... lines), else $DATABASE_URL, else
 * libpq's PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). `describe` is what logs and /status may
 * show (user@host:port/database, never the password); `redact` removes every secret from a message (driver errors
 * can echo a connection string).
 */
import { readFileSync } from 'node:fs';

export interface PgTarget {
  /** node-postgres client settings (contain the password: never log this object). */
  config: { connectionString?: string; host?: string; port?: number; user?: string; password?: string; database?: string };
  /** user@host:port/database, for logs and /status. */
  describe: string;
  /** Where the settings came from: 'file <path>', '$DATABASE_URL' or 'PG* environment'. */
  source: string;
  /** Strings that must never appear in a log line (the password, the full URL). */
  secrets: string[];
}

const KEYS = ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'] as const;

function fromUrl(url: string, source: string): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${source}: not a postgres:// URL (the value is not shown)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`${source}: must be a postgres:// URL, got protocol '${u.protocol}'`);
  const password = decodeURIComponent(u.password);
  return {
    config: { connectionString: url },
    describe: `${decodeURIComponent(u.username) || '(default user)'}@${u.hostname || 'localhost'}:${u.port || '5432'}/${u.pathname.replace(/^\//, '') || '(default)'}`,
    source,
    secrets: [url, ...(password ? [password, u.password] : [])],
  };
}

function fromVars(v: Partial<Record<(typeof KEYS)[number], string>>, source: string): PgTarget {
  const port = v.PGPORT ? Number(v.PGPORT) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new Error(`${source}: PGPORT must be a TCP port, got '${v.PGPORT}'`);
  return {
    config: {
      ...(v.PGHOST ? { host: v.PGHOST } : {}),
      ...(port ? { port } : {}),
      ...(v.PGUSER ? { user: v.PGUSER } : {}),
      ...(v.PGPASSWORD ? { password: v.PGPASSWORD } : {}),
      ...(v.PGDATABASE ? { database: v.PGDATABASE } : {}),
    },
    describe: `${v.PGUSER ?? '(default user)'}@${v.PGHOST ?? 'localhost'}:${port ?? 5432}/${v.PGDATABASE ?? '(default)'}`,
    source,
    secrets: v.PGPASSWORD ? [v.PGPASSWORD] : [],
  };
}

/** Resolves the target; errors name the file or variable, never a secret. */
export function pgTarget(o: { credentialsFile?: string | null } = {}, env: NodeJS.ProcessEnv = process.env): PgTarget {
  if (o.credentialsFile) {
    let text: string;
    try {
      text = readFileSync(o.credentialsFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`fleet.credentialsFile '${o.credentialsFile}': cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const source = `file ${o.credentialsFile}`;
    if (/^postgres(ql)?:\/\//.test(text)) return fromUrl(text, source);
    const vars: Partial<Record<(typeof KEYS)[number], string>> = {};
    for (const [i, line] of text.split('\n').entries()) {
      const l = line.trim().replace(/^export\s+/, '');
      if (!l || l.startsWith('#')) continue;
      const m = /^([A-Z_]+)=(.*)$/.exec(l);
      const key = m?.[1] as (typeof KEYS)[number] | undefined;
      if (!m || !key || !KEYS.includes(key))
        throw new Error(`${o.credentialsFile}: line ${i + 1}: expected a postgres:// URL or one of ${KEYS.join(', ')}=VALUE`);
      vars[key] = (m[2] ?? '').replace(/^(['"])(.*)\1$/, '$2');
    }
    return fromVars(vars, source);
  }
  if (env.DATABASE_URL) return fromUrl(env.DATABASE_URL, '$DATABASE_URL');
  const vars: Partial<Record<(typeof KEYS)[number], string>> = {};
  for (const k of KEYS) if (env[k]) vars[k] = env[k];
  return fromVars(vars, 'PG* environment');
}

/** The message with every secret of the target replaced by '***'. */
export function redact(message: string, target: Pick<PgTarget, 'secrets'>): string {
  let m = message;
  for (const s of [...target.secrets].sort((a, b) => b.length - a.length)) if (s) m = m.split(s).join('***');
  return m;
}
