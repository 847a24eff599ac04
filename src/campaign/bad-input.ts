/**
 * Bad input. (1) Malformed and hostile HTTP requests over real loopback HTTP to a running daemon (loop ticking,
 * idle): wrong types, huge and deeply nested bodies, path traversal in names and ids, missing/wrong tokens, unknown
 * ids, invalid UTF-8, wrong content types. Each must get a 4xx (never a 2xx, never a 5xx, never a file's content or
 * the token); afterwards the daemon still answers, has not moved, opened no episode, and the files it was started
 * from are byte-for-byte unchanged; the token is in neither /status, the events nor the session record, and the API
 * compares tokens in constant time. (2) Malformed config, calibration, connector and model files and foreign or
 * corrupt databases: each refused with an error naming the file (and field), and left untouched.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { loadCalibration, loadDaemonConfig } from '../config/load.ts';
import { loadPolicyFile } from '../daemon/models.ts';
import { loadConnector } from '../sim/connectors.ts';
import { Store } from '../store/index.ts';
import { markNewerSchema, writeForeignDatabase } from '../store/check.ts';
import { Rng } from '../util/rng.ts';
import { ROOT } from './proc.ts';
import { campaignRig, CAMPAIGN_TOKEN } from './rig.ts';
import { RowBuilder, type Row } from './report.ts';

interface Req {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const json = (v: unknown): Buffer => enc(JSON.stringify(v));

/** One hostile request, drawn from the categories; never a well-formed authorised state change. */
export function hostileRequest(rng: Rng): Req {
  const auth = { authorization: `Bearer ${CAMPAIGN_TOKEN}` };
  const jsonCt = { 'content-type': 'application/json' };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)] as T;
  const writes = ['/practice/start', '/practice/stop', '/estop/reset', '/models/1/activate', '/models/rollback', '/replays', '/replays/1/cancel'];
  const badTokens: Array<Record<string, string>> = [
    {},
    { authorization: 'Bearer' },
    { authorization: 'Bearer ' },
    { authorization: `Bearer ${CAMPAIGN_TOKEN}x` },
    { authorization: `Bearer ${CAMPAIGN_TOKEN.slice(0, -1)}` },
    { authorization: `bearer${CAMPAIGN_TOKEN}` },
    { authorization: `Basic ${Buffer.from(`user:${CAMPAIGN_TOKEN}`).toString('base64')}` },
    { authorization: `Bearer ${'A'.repeat(8000)}` },
    { authorization: 'Bearer \u00ff\u00fe' },
    { 'x-api-token': CAMPAIGN_TOKEN },
    { authorization: `Token ${CAMPAIGN_TOKEN}` },
  ];
  const badCounts: unknown[] = ['1', -1, 0, 1.5, 1e308, null, [], {}, true, 100_001, '1e3', 'NaN'];
  const traversal = [
    '../../etc/passwd',
    '..%2F..%2Fetc%2Fpasswd',
    '/etc/passwd',
    'europlug/../../../root',
    '\u0000',
    'a'.repeat(5000),
    '$(rm -rf /)',
    '<script>',
  ];
  const badIds = ['abc', '-1', '0', '1e309', '1.5', '99999999', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '9007199254740993', '1;DROP TABLE episodes', '1abc'];
  const category = Math.floor(rng.next() * 6);
  switch (category) {
    case 0: // no or wrong token on a state-changing route (valid body: the token alone must refuse it)
      return { kind: 'token', method: 'POST', path: pick(writes), headers: { ...pick(badTokens), ...jsonCt }, body: json({ count: 1 }) };
    case 1: {
      // wrong types / values in the practice body
      const body: Record<string, unknown> = { count: pick(badCounts) };
      const extra = Math.floor(rng.next() * 5);
      if (extra === 0) body.domain = pick(traversal);
      if (extra === 1) body.scenario = pick(['III', 1, null, '']);
      if (extra === 2) body.explorationNoise = pick([1, -0.1, 'x', Number.MAX_VALUE]);
      if (extra === 3) body.evil = { __proto__: { polluted: true } };
      return { kind: 'types', method: 'POST', path: '/practice/start', headers: { ...auth, ...jsonCt }, body: json(body) };
    }
    case 2: {
      // a valid count with one hostile field
      const field = pick(['domain', 'scenario', 'kind', 'seed', 'unknown', 'constructor']);
      const value = field === 'domain' ? pick(traversal) : field === 'seed' ? pick(['x', 1.5, -Number.MAX_VALUE, null]) : pick(['III', 7, null, { a: 1 }]);
      return { kind: 'field', method: 'POST', path: '/practice/start', headers: { ...auth, ...jsonCt }, body: json({ count: 1, [field]: value }) };
    }
    case 3: {
      // malformed bodies and encodings
      const k = Math.floor(rng.next() * 8);
      const depth = 1000 + Math.floor(rng.next() * 50_000);
      const bodies: Array<[string, Buffer, Record<string, string>]> = [
        ['invalid JSON', enc('{"count": 1,'), jsonCt],
        ['invalid UTF-8', Buffer.concat([enc('{"count": 1, "domain": "'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), enc('"}')]), jsonCt],
        ['deep nesting', enc(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`), jsonCt],
        ['deep array', enc(`${'['.repeat(depth)}${']'.repeat(depth)}`), jsonCt],
        ['huge body', Buffer.alloc(2 * 1024 * 1024 + Math.floor(rng.next() * 1024), 0x20), jsonCt],
        ['text/plain', enc('count=1'), { 'content-type': 'text/plain' }],
        ['form', enc('count=1'), { 'content-type': 'application/x-www-form-urlencoded' }],
        ['xml', enc('<count>1</count>'), { 'content-type': 'application/xml' }],
      ];
      const [name, body, ct] = bodies[k] as [string, Buffer, Record<string, string>];
      return { kind: `body: ${name}`, method: 'POST', path: pick(['/practice/start', '/models/rollback', '/replays']), headers: { ...auth, ...ct }, body };
    }
    case 4: {
      // hostile ids and queries on reads
      const paths = [
        `/episodes/${pick(badIds)}`,
        `/sessions/${pick(badIds)}`,
        `/transitions/${pick(badIds)}/image.png`,
        `/replays/${pick(badIds)}`,
        `/sessions?offset=${pick(['1e19', '-1', 'abc', '1e400'])}`,
        `/episodes?limit=${pick(['0', '-5', '1e9', 'abc', '1001'])}`,
        `/episodes?${pick(['order=sideways', 'evil=1', 'limit=1&limit=2'])}`,
        `/assets/${pick(['../../package.json', '..%2F..%2Fpackage.json', '%2e%2e/%2e%2e/etc/passwd', '....//....//etc/passwd'])}`,
        `/${pick(['%2e%2e/%2e%2e/etc/passwd', '..%5c..%5cwindows', 'no/such/route', 'models/../../etc/passwd'])}`,
      ];
      return { kind: 'read', method: 'GET', path: pick(paths), headers: pick([{}, auth]) };
    }
    default: {
      // hostile ids on authorised state changes
      const p = pick([`/models/${pick(badIds)}/activate`, `/replays/${pick(badIds)}/cancel`]);
      const body = pick([json({}), json({ reason: 'x'.repeat(600) }), json({ at: 'now' }), enc('null')]);
      return { kind: 'ids', method: 'POST', path: p, headers: { ...auth, ...jsonCt }, body };
    }
  }
}

function send(base: URL, agent: http.Agent, r: Req): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    // (Characters no HTTP client may put in a request line are percent-encoded; the server sees them decoded.)
    const path = r.path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: r.method,
        path,
        agent,
        headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          if (size < 64 * 1024) chunks.push(d);
          size += d.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', (e) => resolve({ status: -1, body: e.message }));
    req.end(r.body);
  });
}

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

/** A loader must throw an error that names the file (and the field when given), and leave the file unchanged. */
function refuses(label: string, file: string, load: () => unknown, mention: RegExp | null): string[] {
  const before = statSync(file).isDirectory() ? hashTree(file) : sha(file);
  const problems: string[] = [];
  try {
    load();
    problems.push('accepted');
  } catch (e) {
    const m = (e as Error).message;
    const base = file.split('/').pop() ?? file;
    if (!m.includes(base)) problems.push(`error does not name the file: ${m.slice(0, 200)}`);
    if (mention && !mention.test(m)) problems.push(`error does not say ${String(mention)}: ${m.slice(0, 200)}`);
    if (/^(TypeError|RangeError|SyntaxError)/.test((e as Error).name) && !m.includes(base)) problems.push(`a raw ${(e as Error).name}`);
  }
  const after = statSync(file).isDirectory() ? hashTree(file) : sha(file);
  if (after !== before) problems.push('the file was changed');
  void label;
  return problems;
}

async function refusesAsync(file: string, load: () => Promise<unknown>, mention: RegExp | null): Promise<string[]> {
  const before = sha(file);
  const problems: string[] = [];
  try {
    await load();
    problems.push('accepted');
  } catch (e) {
    const m = (e as Error).message;
    if (!m.includes(file.split('/').pop() ?? file)) problems.push(`error does not name the file: ${m.slice(0, 200)}`);
    if (mention && !mention.test(m)) problems.push(`error does not say ${String(mention)}: ${m.slice(0, 200)}`);
  }
  if (sha(file) !== before) problems.push('the file was changed');
  return problems;
}

export async function badFiles(dir: string, row: RowBuilder): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // Config files.
  // The shipped config with one field broken (its other fields valid, so the error is about that field).
  const shipped = readFileSync(join(ROOT, 'config/daemon.yaml'), 'utf8');
  const tick = (line: string): string => shipped.replace(/^tickHz:.*$/m, line);
  const configs: Array<[string, string, RegExp | null]> = [
    ['yaml syntax', tick('tickHz: [10'), null],
    ['typo', tick('tickHZ: 10'), /tickHZ.*unknown field.*tickHz/s],
    ['wrong type', tick('tickHz: fast'), /tickHz/],
    ['out of bounds', tick('tickHz: 1000000000'), /tickHz/],
    ['NaN', tick('tickHz: .nan'), /tickHz/],
    ['top-level list', '- 1\n- 2\n', null],
    ['binary', '\u0000\u0001\u0002\u00ff', null],
    ['unknown section', `${shipped}\nevil: { host: 1 }\n`, /evil/],
  ];
  for (const [name, text, mention] of configs) {
    const f = join(dir, `config-${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(f, text);
    row.check(
      `config: ${name}`,
      refuses(name, f, () => loadDaemonConfig(f, {}), mention),
    );
  }
  // Calibration directories (a copy of the shipped one with one file broken).
  const calibs: Array<[string, string, string | null, RegExp | null]> = [
    ['force limit 1e12', 'limits.yaml', 'forceLimitN: 1000000000000\n', /forceLimitN/],
    ['watchdog off (1e9 s)', 'limits.yaml', 'staleSensorMaxAgeS: 1000000000\n', /staleSensorMaxAgeS/],
    ['NaN limit', 'limits.yaml', 'forceLimitN: .nan\n', /forceLimitN/],
    ['negative step', 'limits.yaml', 'maxStepM: -0.01\n', /maxStepM/],
    ['unknown field', 'camera.yaml', 'crop: null\ninputSize: [64, 64]\nchannelOrder: rgb\nexposure: 3\n', /exposure/],
    ['wrong type', 'camera.yaml', 'crop: null\ninputSize: big\nchannelOrder: rgb\n', /inputSize/],
    ['missing file', 'wrench.yaml', null, /wrench/],
    ['garbage', 'socket.yaml', '{{{{', null],
  ];
  for (const [i, [name, file, text, mention]] of calibs.entries()) {
    const d = join(dir, `calibration-${i}`);
    rmSync(d, { recursive: true, force: true });
    cpSync(join(ROOT, 'calibration'), d, { recursive: true });
    const target = join(d, file);
    if (text === null) rmSync(target);
    else if (file === 'limits.yaml') writeFileSync(target, readFileSync(target, 'utf8').replace(new RegExp(`^${text.split(':')[0]}:.*$`, 'm'), text.trim()));
    else writeFileSync(target, text);
    row.check(
      `calibration: ${name}`,
      refuses(name, text === null ? d : target, () => loadCalibration(d), mention),
    );
  }
  // Connector files.
  const good = readFileSync(join(ROOT, 'data/connectors/europlug.json'), 'utf8');
  const connectors: Array<[string, string]> = [
    ['invalid JSON', good.slice(0, good.length / 2)],
    ['empty object', '{}'],
    ['negative size', good.replace(/"diameter_mm":\s*[0-9.]+/, '"diameter_mm": -4')],
    ['string for a number', good.replace(/"depth_mm":\s*[0-9.]+/, '"depth_mm": "NaN"')],
    ['huge clearance', good.replace(/"clearance_mm":\s*[0-9.]+/, '"clearance_mm": 1e308')],
    ['array', '[1,2,3]'],
    ['binary', '\u0000\u00ff'],
  ];
  for (const [name, text] of connectors) {
    const f = join(dir, `connector-${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(f, text);
    row.check(
      `connector: ${name}`,
      refuses(name, f, () => loadConnector(f), null),
    );
  }
  // Model files.
  const policy = join(ROOT, 'models/policy.onnx');
  const models: Array<[string, (f: string) => void]> = [
    ['no card', (f) => writeFileSync(f, readFileSync(policy))],
    [
      'card not JSON',
      (f) => {
        writeFileSync(f, readFileSync(policy));
        writeFileSync(`${f}.json`, '{"kind":');
      },
    ],
    [
      'card of another file',
      (f) => {
        writeFileSync(f, Buffer.from('not onnx at all'));
        writeFileSync(`${f}.json`, readFileSync(`${policy}.json`));
      },
    ],
    [
      'reward card for a policy',
      (f) => {
        writeFileSync(f, readFileSync(join(ROOT, 'models/reward.onnx')));
        writeFileSync(`${f}.json`, readFileSync(join(ROOT, 'models/reward.onnx.json')));
      },
    ],
    [
      'empty file',
      (f) => {
        writeFileSync(f, '');
        writeFileSync(`${f}.json`, readFileSync(`${policy}.json`));
      },
    ],
  ];
  for (const [i, [name, make]] of models.entries()) {
    const f = join(dir, `model-${i}.onnx`);
    make(f);
    row.check(`model: ${name}`, await refusesAsync(f, () => loadPolicyFile(f), null));
  }
  // Databases.
  const dbs: Array<[string, (f: string) => void, RegExp]> = [
    ['random bytes', (f) => writeFileSync(f, Buffer.from(Array.from({ length: 8192 }, (_, k) => (k * 7919) % 251))), /refusing database/],
    ['text file', (f) => writeFileSync(f, 'hello, this is not a database\n'.repeat(20)), /refusing database/],
    ['foreign SQLite', (f) => writeForeignDatabase(f), /refusing database/],
    [
      'truncated log',
      (f) => {
        const s = Store.open(f);
        s.close();
        const b = readFileSync(f);
        writeFileSync(f, b.subarray(0, Math.max(100, Math.floor(b.length / 3)) + 7));
      },
      /refusing database/,
    ],
    [
      'newer schema',
      (f) => {
        Store.open(f).close();
        markNewerSchema(f);
      },
      /newer/,
    ],
  ];
  for (const [i, [name, make, mention]] of dbs.entries()) {
    const f = join(dir, `db-${i}.db`);
    make(f);
    row.check(
      `database: ${name}`,
      refuses(name, f, () => Store.open(f).close(), mention),
    );
  }
}

export async function badInput(o: { dir: string; requests: number; seed: number; log?: (s: string) => void }): Promise<Row> {
  const row = new RowBuilder('bad input (HTTP requests + files + databases)');
  const log = o.log ?? (() => undefined);
  const trees = ['config', 'calibration', 'models', 'data/connectors'].map((d) => join(ROOT, d));
  const before = trees.map(hashTree);
  const r = await campaignRig({ dir: join(o.dir, 'daemon'), overrides: { realtime: true } });
  const rng = new Rng(o.seed);
  const statuses: Record<string, number> = {};
  const byKind: Record<string, { sent: number; ok: number }> = {};
  const bad: string[] = [];
  let handled = 0;
  try {
    const base = new URL(r.app.url ?? '');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const reqs = Array.from({ length: o.requests }, () => hostileRequest(rng));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < reqs.length) {
        const q = reqs[next++] as Req;
        const res = await send(base, agent, q);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        const k = (byKind[q.kind] ??= { sent: 0, ok: 0 });
        k.sent++;
        const problems: string[] = [];
        // A hostile request may also be cut off by the server (a 2 MB body): a closed socket is a refusal too.
        if (!(res.status >= 400 && res.status < 500) && !(res.status === -1 && q.kind === 'body: huge body')) problems.push(`answered ${res.status}`);
        if (res.body.includes(CAMPAIGN_TOKEN)) problems.push('the token is in the answer');
        if (/root:x:0:0|"name":\s*"insertion-daemon"/.test(res.body)) problems.push("a file's content is in the answer");
        if (/^\s*at .*\.ts:\d+/m.test(res.body)) problems.push('a stack trace is in the answer');
        if (problems.length === 0) {
          handled++;
          k.ok++;
        } else if (bad.length < 20) bad.push(`${q.method} ${q.path.slice(0, 80)} (${q.kind}): ${problems.join(', ')}: ${res.body.slice(0, 160)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, () => worker()));
    agent.destroy();
    const http5 = Object.entries(statuses)
      .filter(([s]) => Number(s) >= 500)
      .reduce((a, [, n]) => a + n, 0);
    const problems: string[] = [...bad];
    // Still alive, never moved, nothing opened, nothing leaked.
    const st = await fetch(`${r.app.url ?? ''}/status`);
    const stText = await st.text();
    if (st.status !== 200) problems.push(`/status answered ${st.status} afterwards`);
    if (r.commands.length !== 0) problems.push(`${r.commands.length} motion commands`);
    await r.app.log.flush();
    if (r.app.log.store.counts().episodes !== 0) problems.push('an episode was opened');
    if (stText.includes(CAMPAIGN_TOKEN)) problems.push('the token is in /status');
    if (r.app.log.store.listEvents({ limit: 1000 }).some((e) => JSON.stringify(e).includes(CAMPAIGN_TOKEN))) problems.push('the token is in an event');
    if (JSON.stringify(r.app.log.store.listSessions()).includes(CAMPAIGN_TOKEN)) problems.push('the token is in the session record');
    const server = readFileSync(join(ROOT, 'src/api/server.ts'), 'utf8');
    if (!/timingSafeEqual\(digest\(offered\), digest\(expected\)\)/.test(server) || /(===|!==)\s*(opts\.)?token\b/.test(server))
      problems.push('tokens are not compared in constant time (src/api/server.ts tokensEqual)');
    row.tried += o.requests;
    row.passed += handled;
    row.failures.push(...bad);
    row.check('daemon intact after the requests', problems.slice(bad.length));
    row.data.http = { sent: o.requests, handled, statuses, http5xx: http5, byKind };
    log(`  ${o.requests} requests: ${handled} handled; statuses ${JSON.stringify(statuses)}`);
  } catch (e) {
    row.crashed('requests', e);
  } finally {
    await r.close();
  }
  const fileRow = new RowBuilder('files');
  await badFiles(join(o.dir, 'files'), fileRow);
  row.tried += fileRow.tried;
  row.passed += fileRow.passed;
  row.failures.push(...fileRow.failures);
  row.data.files = { tried: fileRow.tried, refused: fileRow.passed };
  const after = trees.map(hashTree);
  if (after.some((h, i) => h !== before[i])) row.failures.push('a shipped config, calibration, model or connector file changed');
  const sent = row.data.http as { handled: number; http5xx: number } | undefined;
  return row.done(
    `${sent?.handled ?? 0}/${o.requests} hostile requests refused with a 4xx (5xx: ${sent?.http5xx ?? '-'}); ` +
      `${fileRow.passed}/${fileRow.tried} malformed config/calibration/connector/model/database files refused naming the file, none changed; ` +
      'nothing moved, token in no answer, log or /status; constant-time compare',
  );
}
