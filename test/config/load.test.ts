import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDaemonArgs } from '../../src/cli/daemon-args.ts';
import { ConfigError, limitChanges, loadCalibration, loadDaemonConfig, resolveToken } from '../../src/config/load.ts';
import { SAFETY_BOUNDS, SHIPPED_LIMITS } from '../../src/config/schema.ts';
import { cardPathFor, readCard } from '../../src/policy/card.ts';
import { inputSpecOf, unmetSensors } from '../../src/policy/inputs.ts';

const root = resolve(import.meta.dirname, '../..');
const defaultConfig = join(root, 'config/daemon.yaml');

function tmpCopy(): { dir: string; config: string; cal: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'daemon-cfg-'));
  cpSync(join(root, 'config'), join(dir, 'config'), { recursive: true });
  cpSync(join(root, 'calibration'), join(dir, 'calibration'), { recursive: true });
  return { dir, config: join(dir, 'config/daemon.yaml'), cal: join(dir, 'calibration'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

function edit(file: string, from: RegExp, to: string): void {
  const text = readFileSync(file, 'utf8');
  assert.match(text, from, `test setup: ${from} not in ${file}`);
  writeFileSync(file, text.replace(from, to));
}

function throwsConfig(fn: () => unknown, file: RegExp, field: string | null, detail?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.match(e.file, file);
    assert.equal(e.field, field);
    if (detail) assert.match(e.message, detail);
    return true;
  });
}

test('out of the box the simulated cell has a wrist depth image and starts with the shipped depth reward it can feed', () => {
  const cfg = loadDaemonConfig(defaultConfig);
  assert.equal(cfg.backend.sim.depth, true);
  const [first, ...rest] = cfg.rewardPreference;
  assert.equal(first, 'reward-depth.onnx');
  // Every preferred file is shipped; the first takes depth cells (so a robot without depth passes it over), the last none.
  const needs = (file: string): string | null => {
    const path = join(cfg.modelsDir, file);
    assert.ok(existsSync(path), `${path} is shipped`);
    return unmetSensors(inputSpecOf(readCard(cardPathFor(path)), path), { depth: false });
  };
  assert.match(needs(first) ?? '', /depth cells/);
  assert.equal(needs(rest.at(-1) ?? first), null);
});

test('the shipped config and calibration load and resolve paths against the config file', () => {
  const cfg = loadDaemonConfig(defaultConfig);
  assert.equal(cfg.api.host, '127.0.0.1');
  assert.equal(cfg.db, join(root, 'data/daemon.db'));
  assert.equal(cfg.calibrationDir, join(root, 'calibration'));
  assert.equal(cfg.practice.useGroundTruthReward, false);
  const cal = loadCalibration(cfg.calibrationDir);
  assert.deepEqual(cal.gains.kp, [1, 1, 0.3]);
  assert.ok(cal.limits.residualBoundM <= cal.limits.maxStepM);
});

test('command-line flags override the file; bad flag values name the flag', () => {
  const args = parseDaemonArgs(['--port', '0', '--tick-hz', '20', '--db', 'x.db', '--free-run', '--episode-steps', '5'], defaultConfig);
  const cfg = loadDaemonConfig(args.configFile, args.overrides);
  assert.equal(cfg.api.port, 0);
  assert.equal(cfg.tickHz, 20);
  assert.equal(cfg.realtime, false);
  assert.equal(cfg.practice.episodeSteps, 5);
  assert.equal(cfg.db, resolve('x.db'));
  assert.equal(cfg.priority, -5, 'file value kept when no flag');
  assert.equal(loadDaemonConfig(defaultConfig, parseDaemonArgs(['--priority', 'none'], defaultConfig).overrides).priority, null);
  assert.equal(loadDaemonConfig(defaultConfig, parseDaemonArgs(['--priority', '3'], defaultConfig).overrides).priority, 3);
  const pr = parseDaemonArgs(['--priority=-30'], defaultConfig);
  throwsConfig(() => loadDaemonConfig(pr.configFile, pr.overrides), /daemon\.yaml/, 'priority', /--priority/);
  throwsConfig(() => parseDaemonArgs(['--port', 'abc'], defaultConfig), /command line/, '--port', /integer/);
  throwsConfig(() => parseDaemonArgs(['--tick-hz', ''], defaultConfig), /command line/, '--tick-hz');
  throwsConfig(() => parseDaemonArgs(['--bogus'], defaultConfig), /command line/, null, /bogus/);
  // A flag value the schema refuses names the field and the flag.
  const over = parseDaemonArgs(['--port', '70000'], defaultConfig);
  throwsConfig(() => loadDaemonConfig(over.configFile, over.overrides), /daemon\.yaml/, 'api.port', /--port/);
});

test('config file errors name the file and the field', (t) => {
  const c = tmpCopy();
  t.after(c.done);
  const orig = readFileSync(c.config, 'utf8');
  const cases: Array<[RegExp, string, string, RegExp?]> = [
    [/tickHz: 10 /, 'tickHz: -1 ', 'tickHz'],
    [/tickHz: 10 /, 'tickHz: fast ', 'tickHz', /number/],
    [/port: 8750/, 'port: 1.5', 'api.port'],
    // A misspelt field is reported as unknown, with the likely intended name, not as the field it leaves missing.
    [/port: 8750/, 'prot: 8750', 'api.prot', /unknown field \(did you mean 'port'\?\)/],
    [/tickHz: 10 /, 'tickHZ: 10 ', 'tickHZ', /unknown field \(did you mean 'tickHz'\?\)/],
    [/realtime: true /, 'realtme: true ', 'realtme', /unknown field \(did you mean 'realtime'\?\)/],
    [/realtime: true /, 'wibble: true ', 'wibble', /unknown field \(known: api, db, tickHz/],
    [/host: 127.0.0.1/, 'host: 127.0.0.1\n  extra: 1', 'api.extra', /unknown field/],
    [/scenario: II/, 'scenario: III', 'practice.scenario', /"I","II"/],
    [/useGroundTruthReward: false/, 'useGroundTruthReward: 0', 'practice.useGroundTruthReward', /boolean/],
    [/imageSize: 64/, 'imageSize: 2', 'backend.sim.imageSize'],
    [/camera: wrist /, 'camera: ceiling ', 'backend.sim.camera', /"wrist","fixed"/],
    [/shadows: false /, 'shadows: sometimes ', 'backend.sim.shadows', /boolean/],
    [/swapAt: episode-boundary/, 'swapAt: whenever', 'swapAt'],
  ];
  for (const [from, to, field, detail] of cases) {
    writeFileSync(c.config, orig);
    edit(c.config, from, to);
    throwsConfig(() => loadDaemonConfig(c.config), /daemon\.yaml$/, field, detail);
  }
  writeFileSync(c.config, 'api: [unclosed');
  throwsConfig(() => loadDaemonConfig(c.config), /daemon\.yaml$/, null, /YAML/);
  writeFileSync(c.config, '- a list');
  throwsConfig(() => loadDaemonConfig(c.config), /daemon\.yaml$/, null, /mapping/);
  throwsConfig(() => loadDaemonConfig(join(c.dir, 'nope.yaml')), /nope\.yaml$/, null, /cannot read/);
});

test('calibration errors name the file and the field', (t) => {
  const c = tmpCopy();
  t.after(c.done);
  const files = ['camera', 'wrench', 'socket', 'workspace', 'gains', 'limits'];
  const originals = Object.fromEntries(files.map((f) => [f, readFileSync(join(c.cal, `${f}.yaml`), 'utf8')]));
  const restore = (): void => {
    for (const f of files) writeFileSync(join(c.cal, `${f}.yaml`), originals[f] as string);
  };
  const cases: Array<[string, RegExp, string, string, RegExp?]> = [
    ['limits', /forceLimitN: 250/, 'forceLimitN: -3', 'forceLimitN'],
    ['limits', /residualBoundM: 0.005/, 'residualBoundM: 0.015', 'residualBoundM', /maxStepM/],
    // Every safety limit has a hard bound: values that would switch the force limit or the watchdog off are refused.
    ['limits', /forceLimitN: 250/, 'forceLimitN: 1e12', 'forceLimitN', /must be <= 500/],
    ['limits', /staleSensorMaxAgeS: 0.5 /, 'staleSensorMaxAgeS: 1e9 ', 'staleSensorMaxAgeS', /must be <= 2/],
    ['limits', /maxStepM: 0.01 /, 'maxStepM: 0.5 ', 'maxStepM', /must be <= 0.05/],
    ['limits', /retractM: 0.01 /, 'retractM: 1 ', 'retractM', /must be <= 0.05/],
    // Beyond the soft bound only when beyondSoftBound names the field.
    ['limits', /forceLimitN: 250/, 'forceLimitN: 400', 'forceLimitN', /beyond the soft bound 300 N .*add forceLimitN to beyondSoftBound/],
    ['limits', /staleSensorMaxAgeS: 0.5 /, 'staleSensorMaxAgeS: 1 ', 'staleSensorMaxAgeS', /soft bound 0.5 s/],
    ['limits', /forceLimitN: 250/, 'forceLimitN: 400\nbeyondSoftBound: [forceLimitN, forceLimitN]', 'beyondSoftBound', /duplicate/],
    ['limits', /forceLimitN: 250/, 'forceLimitN: 400\nbeyondSoftBound: [forceLimitn]', 'beyondSoftBound[0]', /must be one of/],
    ['gains', /kp: \[1, 1, 0.3\]/, 'kp: [1, 1, 30]', 'kp[2]', /must be <= 2/],
    ['workspace', /max: \[1.0, 0.4, 0.6\]/, 'max: [1.0, 0.4, 60]', 'max[2]', /must be <= 2/],
    ['wrench', /bias: \[0, 0, 0, 0, 0, 0\]/, 'bias: [0, 0, 1e6, 0, 0, 0]', 'bias[2]', /must be <= 500/],
    ['limits', /staleSensorMaxAgeS: 0.5 /, '', 'staleSensorMaxAgeS', /required/],
    ['gains', /kp: \[1, 1, 0.3\]/, 'kp: [1, 1]', 'kp'],
    ['gains', /kp: \[1, 1, 0.3\]/, 'kp: [1, -1, 0.3]', 'kp[1]'],
    ['wrench', /bias: \[0, 0, 0, 0, 0, 0\]/, 'bias: [0, 0, 0, 0, 0, x]', 'bias[5]'],
    ['workspace', /min: \[0.2, -0.4, -0.05\]/, 'min: [0.2, 0.5, -0.05]', 'min[1]', /below max/],
    ['camera', /channelOrder: rgb/, 'channelOrder: yuv', 'channelOrder'],
    ['camera', /crop: null/, 'crop: {x: 0, y: 0, width: 0, height: 4}', 'crop'],
    ['socket', /goal: null/, 'goal: [0.5, 0]', 'goal'],
  ];
  for (const [file, from, to, field, detail] of cases) {
    restore();
    edit(join(c.cal, `${file}.yaml`), from, to);
    throwsConfig(() => loadCalibration(c.cal), new RegExp(`${file}\\.yaml$`), field, detail);
  }
  restore();
  rmSync(join(c.cal, 'gains.yaml'));
  throwsConfig(() => loadCalibration(c.cal), /gains\.yaml$/, null, /missing/);
});

test('token: environment wins over the file; none means null', () => {
  const cfg = loadDaemonConfig(defaultConfig);
  assert.equal(resolveToken(cfg, {}), null);
  assert.equal(resolveToken({ ...cfg, api: { ...cfg.api, token: 'file-token-123' } }, {}), 'file-token-123');
  assert.equal(resolveToken({ ...cfg, api: { ...cfg.api, token: 'file-token-123' } }, { DAEMON_TOKEN: 'env-token' }), 'env-token');
});

test('limits beyond a soft bound load when beyondSoftBound names them; the shipped limits are the reference', (t) => {
  const c = tmpCopy();
  t.after(c.done);
  assert.deepEqual(limitChanges(loadCalibration(c.cal).limits), [], 'calibration/limits.yaml is SHIPPED_LIMITS');
  assert.deepEqual({ ...loadCalibration(join(root, 'calibration')).limits }, { ...SHIPPED_LIMITS });
  edit(join(c.cal, 'limits.yaml'), /forceLimitN: 250/, 'forceLimitN: 400\nbeyondSoftBound: [forceLimitN]');
  edit(join(c.cal, 'limits.yaml'), /retractM: 0.01/, 'retractM: 0.02');
  const lim = loadCalibration(c.cal).limits;
  assert.equal(lim.forceLimitN, 400);
  assert.deepEqual(limitChanges(lim), [
    { field: 'forceLimitN', shipped: 250, value: 400, looser: true, beyondSoftBound: true },
    { field: 'retractM', shipped: 0.01, value: 0.02, looser: false, beyondSoftBound: false },
  ]);
  for (const [field, b] of Object.entries(SAFETY_BOUNDS)) {
    assert.ok(b.soft < b.hard, field);
    assert.ok((SHIPPED_LIMITS as Record<string, number>)[field]! <= b.soft, `${field}: shipped within its soft bound`);
  }
});
