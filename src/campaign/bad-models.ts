/**
 * Bad policy exports made from a good one (the shipped policy): corrupt bytes, a truncated file, a wrong output shape,
 * NaN outputs, huge actions. Each has a valid card (except where the fault is the card/file mismatch itself), so the
 * refusal must come from loading or from the swap validation, not from a missing file.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cardPathFor, readCard, writeModelFiles, type CardDraft, type ModelCard } from '../policy/card.ts';
import { onnxProto } from '../policy/onnx-format.ts';

export type BadModelKind = 'corrupt' | 'truncated' | 'wrong-shape' | 'nan-output' | 'huge-action';
export const BAD_MODEL_KINDS: readonly BadModelKind[] = ['corrupt', 'truncated', 'wrong-shape', 'nan-output', 'huge-action'];

type Tensor = onnxProto.onnx.ITensorProto;

function draftOf(card: ModelCard, name: string, version: number): CardDraft {
  const { format: _f, formatVersion: _v, onnx: _o, ...rest } = card;
  return { ...rest, name, version, description: `fault campaign: ${name} (made from ${card.name}@${card.version})` };
}

function floats(t: Tensor): Float32Array {
  const raw = t.rawData;
  if (raw && raw.length) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Float32Array.from(t.floatData ?? []);
}

function setFloats(t: Tensor, v: Float32Array): void {
  t.rawData = new Uint8Array(v.buffer.slice(0));
  t.floatData = [];
}

/** The output layer's tensors of a policy exported by src/learn/export.ts (Gemm -> Tanh -> Mul by the bound). */
function outputTensors(m: onnxProto.onnx.ModelProto): { kernel: Tensor; bias: Tensor; scale: Tensor } {
  const g = m.graph;
  const nodes = g?.node ?? [];
  const mul = [...nodes].reverse().find((n) => n.opType === 'Mul');
  const gemm = [...nodes].reverse().find((n) => n.opType === 'Gemm');
  const byName = (name: string | undefined): Tensor => {
    const t = g?.initializer?.find((i) => i.name === name);
    if (!t) throw new Error(`bad-models: initializer ${name} not found (not a policy exported by src/learn/export.ts?)`);
    return t;
  };
  return { kernel: byName(gemm?.input?.[1] ?? undefined), bias: byName(gemm?.input?.[2] ?? undefined), scale: byName(mul?.input?.[1] ?? undefined) };
}

/** Writes one bad model next to `dir`; returns its path and the version it claims (name@version). */
export function makeBadModel(good: string, dir: string, kind: BadModelKind, version: number): { path: string; version: string } {
  const card = readCard(cardPathFor(good));
  const name = `campaign-${kind}`;
  const path = join(dir, `${name}-${version}.onnx`);
  const bytes = readFileSync(good);
  const meta = { opset: card.onnx.opset, irVersion: card.onnx.irVersion };
  if (kind === 'corrupt' || kind === 'truncated') {
    // A valid card for the good bytes, then the file damaged after the card was written (a crash or a disk fault).
    writeModelFiles(path, bytes, draftOf(card, name, version), meta);
    if (kind === 'corrupt') {
      const b = Buffer.from(bytes);
      for (let i = Math.floor(b.length / 3); i < Math.floor(b.length / 3) + 64; i++) b[i] = (b[i] ?? 0) ^ 0xff;
      writeFileSync(path, b);
    } else {
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    }
    return { path, version: `${name}@${version}` };
  }
  const m = onnxProto.onnx.ModelProto.decode(bytes);
  const { kernel, bias, scale } = outputTensors(m);
  if (kind === 'nan-output') {
    setFloats(bias, new Float32Array(floats(bias).length).fill(NaN));
  } else if (kind === 'huge-action') {
    setFloats(scale, new Float32Array(floats(scale).length).fill(1000)); // 1 km per step
  } else {
    // wrong shape: two action components instead of three (kernel [n, 3] -> [n, 2], bias and scale [2]).
    const k = floats(kernel);
    const rows = k.length / 3;
    const k2 = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      k2[r * 2] = k[r * 3] as number;
      k2[r * 2 + 1] = k[r * 3 + 1] as number;
    }
    setFloats(kernel, k2);
    kernel.dims = [rows, 2];
    setFloats(bias, floats(bias).subarray(0, 2).slice());
    bias.dims = [2];
    setFloats(scale, floats(scale).subarray(0, 2).slice());
    scale.dims = [2];
  }
  const out = onnxProto.onnx.ModelProto.encode(m).finish();
  writeModelFiles(path, out, draftOf(card, name, version), meta);
  return { path, version: `${name}@${version}` };
}

/** A good copy of a model under a new name/version (the "last good policy" a campaign offers first). */
export function copyModel(good: string, dir: string, name: string, version: number): { path: string; version: string } {
  const card = readCard(cardPathFor(good));
  const path = join(dir, `${name}-${version}.onnx`);
  copyFileSync(good, `${path}.src`);
  writeModelFiles(path, readFileSync(`${path}.src`), draftOf(card, name, version), { opset: card.onnx.opset, irVersion: card.onnx.irVersion });
  return { path, version: `${name}@${version}` };
}
