/** The teardown stack every test uses to close what it opened (test/teardown.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closers, teardown } from './teardown.ts';

test('closers run last-added-first, every one even when some throw or reject, and then fail with all their errors', async () => {
  const ran: string[] = [];
  const c = closers();
  c.defer(() => ran.push('rig'));
  c.defer(() => {
    ran.push('store');
    throw new Error('store failed');
  });
  c.defer(async () => {
    await new Promise((r) => setTimeout(r, 5));
    ran.push('fleet');
    throw new Error('fleet failed');
  });
  const err = await c.close().then(
    () => assert.fail('close() must fail'),
    (e: unknown) => e,
  );
  assert.deepEqual(ran, ['fleet', 'store', 'rig']);
  assert.ok(err instanceof AggregateError);
  assert.deepEqual(
    err.errors.map((e: Error) => e.message),
    ['fleet failed', 'store failed'],
  );
  await c.close(); // each closer runs once
  assert.equal(ran.length, 3);
});

test('one failing closer fails with its own error', async () => {
  const c = closers();
  c.defer(() => undefined);
  c.defer(() => Promise.reject(new Error('only')));
  await assert.rejects(c.close(), /^Error: only$/);
});

let order: string[] = [];
test('teardown(t) closes after the test body, in reverse order', (t) => {
  order = [];
  const defer = teardown(t);
  defer(() => order.push('first opened'));
  defer(() => order.push('last opened'));
  assert.deepEqual(order, []);
});
test('(the previous test closed its two things, last opened first)', () => {
  assert.deepEqual(order, ['last opened', 'first opened']);
});

let shared: string[] = [];
test("a helper calling teardown(t) shares the test's stack: one LIFO order across both", (t) => {
  shared = [];
  const defer = teardown(t);
  defer(() => shared.push('folder'));
  teardown(t)(() => shared.push("helper's child process"));
  defer(() => shared.push('test-only client'));
});
test('(the previous test closed the client, then the child process, then the folder)', () => {
  assert.deepEqual(shared, ['test-only client', "helper's child process", 'folder']);
});
