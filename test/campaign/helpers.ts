/** The quick campaign inside npm test: rows run for real and every one must pass (its failures are the message). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTable, QUICK, rowOk, runCampaign, type RowName } from '../../src/campaign/index.ts';

export async function quickRows(only: RowName[]): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'campaign-test-'));
  try {
    const rows = await runCampaign({ ...QUICK, only, out, log: () => undefined });
    assert.equal(rows.length, only.length, 'every row ran');
    for (const r of rows) assert.ok(rowOk(r), `${r.name}:\n${formatTable([r])}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
