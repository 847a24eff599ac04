/**
 * startWorker's memoryReducer option (src/util/worker.ts), used for the control thread: V8's memory reducer flag is
 * cleared while that worker's heap is set up and restored once it runs, so only its heap goes without the reducer (V8
 * reads the flag when a heap is set up: heap.cc `if (v8_flags.memory_reducer) memory_reducer_.reset(...)`). The flag
 * calls are watched through node:v8's exports; whether V8 then collects less is measured by the daemon-thread bench
 * (results/campaign/gc-memory-reducer-pairs.json), not here: the reducer's timers make its collections too irregular
 * for a test.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import v8 from 'node:v8';
import { startWorker } from '../../src/util/worker.ts';

const IDLE = new URL('data:text/javascript,' + encodeURIComponent('setTimeout(() => {}, 60_000)'));

/** The flags startWorker sets, in order, between the moments the worker was created and ran ('online'). */
async function flagCalls(o: Parameters<typeof startWorker>[2], execArgv?: string[]): Promise<string[]> {
  const calls: string[] = [];
  const real = v8.setFlagsFromString;
  const spy = mock.method(v8, 'setFlagsFromString', (f: string) => {
    calls.push(f);
    real(f);
  });
  syncBuiltinESMExports();
  const argv = process.execArgv;
  if (execArgv) Object.defineProperty(process, 'execArgv', { value: execArgv, configurable: true, writable: true });
  try {
    const w = startWorker(IDLE, null, o);
    calls.push('(created)');
    await new Promise((r) => w.once('online', r));
    calls.push('(online)');
    await w.terminate();
    return calls;
  } finally {
    if (execArgv) Object.defineProperty(process, 'execArgv', { value: argv, configurable: true, writable: true });
    spy.mock.restore();
    syncBuiltinESMExports();
  }
}

test('memoryReducer false: the flag is off while the worker is created, back on when it runs', async () => {
  if (process.execArgv.some((a) => a === '--memory-reducer' || a === '--no-memory-reducer')) return; // the user's flag
  assert.deepEqual(await flagCalls({ memoryReducer: false }), ['--no-memory-reducer', '(created)', '--memory-reducer', '(online)']);
});

test('default, and a flag given to node: the flag is left alone', async () => {
  assert.deepEqual(await flagCalls({}), ['(created)', '(online)']);
  assert.deepEqual(await flagCalls({ memoryReducer: false }, ['--no-memory-reducer']), ['(created)', '(online)']);
  assert.deepEqual(await flagCalls({ memoryReducer: false }, ['--memory-reducer', '--import', 'tsx']), ['(created)', '(online)']);
});

test('concurrentRecompilation false: the flag is off while the worker is created, back on when it runs', async () => {
  if (process.execArgv.some((a) => a === '--concurrent-recompilation' || a === '--no-concurrent-recompilation')) return;
  assert.deepEqual(await flagCalls({ memoryReducer: false, concurrentRecompilation: false }), [
    '--no-memory-reducer',
    '--no-concurrent-recompilation',
    '(created)',
    '--memory-reducer',
    '--concurrent-recompilation',
    '(online)',
  ]);
  assert.deepEqual(await flagCalls({ concurrentRecompilation: false }, ['--no-concurrent-recompilation']), ['(created)', '(online)']);
});

test('concurrentRecompilation false: that worker alone optimizes synchronously (node --trace-opt)', () => {
  // Three hot functions: in a worker started with the option, then in a worker started without it, then on the main
  // thread. V8 says per compile which mode it used.
  const hot = (name: string): string =>
    `function ${name}(n){let s=0;for(let i=0;i<n;i++)s+=Math.sqrt(i+n);return s}let t=0;for(let k=0;k<3000;k++)t+=${name}(1000);`;
  const worker = (name: string): string => JSON.stringify('data:text/javascript,' + encodeURIComponent(hot(name)));
  const script = `
    import { startWorker } from ${JSON.stringify(new URL('../../src/util/worker.ts', import.meta.url).href)};
    const run = (url, o) => new Promise((r) => startWorker(new URL(url), null, o).once('exit', r));
    await run(${worker('offHot')}, { concurrentRecompilation: false });
    await run(${worker('onHot')}, {});
    ${hot('mainHot')}`;
  const out = execFileSync(process.execPath, ['--trace-opt', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const modes = (name: string): string[] => [
    ...new Set([...out.matchAll(new RegExp(`compiling method .*<JSFunction ${name} .*mode: ConcurrencyMode::(\\w+)`, 'g'))].map((m) => m[1] ?? '')),
  ];
  assert.deepEqual(modes('offHot'), ['kSynchronous']);
  assert.deepEqual(modes('onHot'), ['kConcurrent']);
  assert.deepEqual(modes('mainHot'), ['kConcurrent']);
});
