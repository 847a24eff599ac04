/**
 * The shared e-stop flag (src/daemon/thread-protocol.ts) as the control thread uses it (DaemonOptions.estopRequest):
 * a request made while a tick awaits inference wins before that tick's motion command, without any message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadCalibration, loadDaemonConfig } from '../../src/config/load.ts';
import { MemoryLog } from '../../src/daemon/log.ts';
import { Daemon } from '../../src/daemon/loop.ts';
import { EstopFlag } from '../../src/daemon/thread-protocol.ts';
import { MockBackend } from '../../src/robot/mock-backend.ts';
import { root, scriptedPolicy } from './helpers.ts';

test('an e-stop requested through the shared flag during a tick stops that tick before its motion command', async () => {
  const config = loadDaemonConfig(join(root, 'config/daemon.yaml'), { db: ':memory:', realtime: false, episodeSteps: 20, priority: null });
  const mock = new MockBackend({ controlHz: config.tickHz, imageSize: config.backend.sim.imageSize });
  const flag = new EstopFlag();
  const seen: string[] = [];
  const log = new MemoryLog();
  const d = new Daemon({
    backend: mock,
    config,
    calibration: loadCalibration(join(root, 'calibration')),
    log,
    policy: scriptedPolicy('slow', () => [0, 0, 0], 60), // inference takes 60 ms: the tick awaits it
    estopRequest: () => {
      const p = flag.pending();
      if (!p) return null;
      flag.acknowledge(p.seq);
      seen.push(p.detail);
      return p.detail;
    },
  });
  try {
    assert.ok(d.startPractice({ count: 1 }).ok);
    await d.settle();
    assert.equal(d.currentState, 'running');
    await d.tick();
    const before = mock.commandsExecuted;
    assert.equal(before, 1);
    const tick = d.tick();
    await new Promise((r) => setTimeout(r, 20)); // the tick is inside inference now
    flag.request('from the main thread');
    await tick;
    assert.equal(mock.commandsExecuted, before, 'no motion command after the request');
    assert.equal(d.currentState, 'estopped');
    assert.deepEqual(seen, ['from the main thread']);
    assert.equal(d.status().safety.estop.source, 'rest');
    assert.equal(flag.pending(), null, 'acknowledged once');
    assert.equal(log.episodes[0]?.end?.outcome, 'tripped');
  } finally {
    await d.shutdown();
    mock.dispose();
  }
});
