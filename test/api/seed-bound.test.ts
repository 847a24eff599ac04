/**
 * The practice seed is an exact integer (issue 12 campaign: `"seed": -1.7976931348623157e308` passed JSON Schema's
 * 'integer' and started practice); beyond 2^53 it is a 400 naming the field, like ids and offsets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mockRig, TOKEN } from '../daemon/helpers.ts';

test('a practice seed beyond the exact integers is refused with a 400 naming it; nothing starts', async (t) => {
  const r = await mockRig();
  t.after(() => r.close());
  for (const seed of [-Number.MAX_VALUE, Number.MAX_VALUE, 2 ** 53, -(2 ** 60)]) {
    const res = await r.app.api.inject({ method: 'POST', url: '/practice/start', headers: { authorization: `Bearer ${TOKEN}` }, payload: { count: 1, seed } });
    assert.equal(res.statusCode, 400, `seed ${seed}: ${res.body}`);
    assert.match(res.json<{ message: string }>().message, /seed/);
  }
  assert.equal(r.app.daemon.status().practice, null);
  const ok = await r.app.api.inject({
    method: 'POST',
    url: '/practice/start',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { count: 1, seed: 2 ** 53 - 1 },
  });
  assert.equal(ok.statusCode, 202, ok.body);
});
