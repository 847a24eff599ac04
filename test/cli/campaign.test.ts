/** The campaign command's arguments: --help, and a clear usage error (exit 2) for an unknown flag, row or bad size. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/campaign.ts';

function io() {
  const o = { out: '', err: '' };
  return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
}

test('campaign --help lists the rows and sizes; bad flags are usage errors naming them', async () => {
  const h = io();
  assert.equal(await main(['--help'], h.io), 0);
  assert.match(h.o.out, /--kills N[\s\S]*--requests N[\s\S]*power-loss, trainer, sensors, estop, force, bad-input, soak/);
  for (const [argv, why] of [
    [['--kills', '-1'], /--kills: must be an integer/],
    [['--only', 'power-loss,warp'], /unknown row\(s\) warp/],
    [['--fast'], /unknown flag --fast/],
    [['--requests'], /--requests needs a value/],
  ] as const) {
    const e = io();
    assert.equal(await main([...argv], e.io), 2, argv.join(' '));
    assert.match(e.o.err, why);
  }
});
