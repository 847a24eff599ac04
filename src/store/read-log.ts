/**
 * Reading a log that may come from an older build (a finished run's results): read-only as it is, or, when its schema
 * is older, a migrated copy in a temporary directory. The file itself is never changed.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { StoreOpenError } from './open.ts';
import { Store } from './store.ts';

export function readLog<T>(file: string, read: (s: Store) => T): T {
  let s: Store;
  let copy: string | null = null;
  try {
    s = Store.openReadOnly(file);
  } catch (e) {
    if (!(e instanceof StoreOpenError && e.reason === 'older')) throw e;
    copy = mkdtempSync(join(tmpdir(), 'read-log-'));
    const name = basename(file);
    for (const x of ['', '-wal']) if (existsSync(file + x)) copyFileSync(file + x, join(copy, name + x));
    s = Store.open(join(copy, name), { integrityCheck: 'header' });
  }
  try {
    return read(s);
  } finally {
    s.close();
    if (copy) rmSync(copy, { recursive: true, force: true });
  }
}
