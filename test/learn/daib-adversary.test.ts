/**
 * What DAIB's adversary is for (issue 13, "Tests"), on synthetic peg-in-hole images of 4 domains (connectors), DAIB
 * and ERM trained alike, zI 32 wide (wide enough that ERM's zI keeps the domain):
 * - a FRESH linear domain classifier fitted afterwards on DAIB's frozen zI does little better than chance, while on
 *   ERM's it reads the domain well. Removing the adversarial term (src/learn/daib.ts, DaibRepresentation.aux, the
 *   `domainMoments` term) makes it fail: the probe then reads 0.6-0.7. With the research's gradient reversal
 *   (`adversary: 'reversal'`) it read 1.000: the encoder fooled its domain head instead of removing the domain.
 * What it does not remove: the domain classifier trained beside the encoder (an MLP on the stopped zI) still read the
 * domain of unseen samples (0.87): the moments hide what a linear read-out can find, not every non-linear trace.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/learn/backend.ts';
import { DaibClassifier, defaultDaibConfig, freshDomainProbe, type DaibMethod, type LabelledImages } from '../../src/learn/daib.ts';
import { makePegDataset } from '../../src/learn/synthetic.ts';

await initBackend();

const S = 32;
const DOMAINS = [0, 1, 2, 3];
const PER = 160;
const all = makePegDataset({ domains: DOMAINS, perDomain: PER, size: S, seed: 11 });
// Per domain the first 80 samples train the classifier; the other 80 (unseen) are read by the probes.
const part = (from: number, to: number): LabelledImages => {
  const idx: number[] = [];
  for (let i = 0; i < all.count; i++) {
    const k = i % PER;
    if (k >= from && k < to) idx.push(i);
  }
  const size = S * S * 3;
  const images = new Uint8Array(idx.length * size);
  idx.forEach((s, j) => images.set(all.images.subarray(s * size, (s + 1) * size), j * size));
  return {
    count: idx.length,
    shape: all.shape,
    images,
    success: Uint8Array.from(idx, (i) => all.success[i]!),
    domain: Int32Array.from(idx, (i) => all.domain[i]!),
  };
};
const train = part(0, 80);
const unseen = part(80, 160);
const chance = 1 / DOMAINS.length;

function trained(method: DaibMethod): DaibClassifier {
  const clf = new DaibClassifier(
    defaultDaibConfig({
      numDomains: DOMAINS.length,
      method,
      seed: 5,
      batchSize: 64,
      headHidden: [32],
      lr: 1e-3,
      grlWarmupSteps: 100,
      advWeight: 1,
      shiftPad: 0,
      encoder: { inputShape: [S, S, 3], filters: [8, 8], kernelSize: 3, strides: [2, 2], padding: 'same', zIDim: 32, zSDim: 4 },
    }),
  );
  clf.fit(train, 800);
  return clf;
}

const daib = trained('daib');
const erm = trained('erm');
after(() => {
  daib.dispose();
  erm.dispose();
});

test('a fresh linear domain probe on frozen zI is near chance after DAIB and reads the domain after ERM', () => {
  const d = freshDomainProbe(daib, unseen, { seed: 1 });
  const e = freshDomainProbe(erm, unseen, { seed: 1 });
  assert.ok(d !== null && e !== null);
  const msg = `fresh linear probe on zI of unseen samples: DAIB ${d.toFixed(3)}, ERM ${e.toFixed(3)} (chance ${chance})`;
  console.log(msg);
  assert.ok(e > chance + 0.2, `ERM's zI carries the domain (else this test shows nothing): ${msg}`);
  assert.ok(d < chance + 0.15, msg);
  assert.ok(d < e - 0.15, msg);
  const success = daib.evaluate(unseen).accuracy;
  assert.ok(success > 0.9, `and DAIB still tells seated from not: success accuracy ${success.toFixed(3)}`);
});
