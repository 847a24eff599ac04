/**
 * The daemon benchmarks' models: policy-shaped ONNX files of the daemon's size (64 px image + 9 proprio, 256 hidden,
 * residual bound 2 mm) with their cards, built by the test fixtures (tfjs on the cpu backend, set by the caller).
 */
import { join } from 'node:path';
import { saveOnnxModel } from '../src/learn/export.ts';
import { buildPolicyLike, cardDraft } from '../test/policy/fixtures.ts';

/** `<dir>/<name ?? kind>.onnx`; `seed` and the card's `version` tell versions of the same model apart. */
export function saveBenchModel(dir: string, kind: 'policy' | 'reward', o: { name?: string; seed?: number; version?: number } = {}): string {
  const path = join(dir, `${o.name ?? kind}.onnx`);
  const head = kind === 'policy' ? 'action' : 'probability';
  const m = buildPolicyLike({ size: 64, proprioDim: 9, hidden: 256, head, bound: 0.002, seed: o.seed ?? kind.length });
  const card = cardDraft(kind, { size: 64, proprioDim: 9, bound: 0.002 });
  saveOnnxModel(m, path, { inputRoles: ['image', 'proprio'], outputRoles: [head], card: o.version === undefined ? card : { ...card, version: o.version } });
  m.dispose();
  return path;
}
