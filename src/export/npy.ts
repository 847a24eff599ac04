/**
 * NumPy's .npy format (version 1.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html) and
 * .npz archives of them (a ZIP; members named <array>.npy). No well-kept npm package writes .npy (the ones found,
 * e.g. npyjs, read only), and the format is a 10-byte preamble plus a Python-literal header, so it is written here;
 * the ZIP container comes from fflate (streaming, stored like np.savez or deflated like np.savez_compressed).
 * fflate writes no ZIP64, so an archive must stay below 4 GiB: the writer refuses before it gets there.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';

export type NpyDtype = '|u1' | '|i1' | '<i4' | '<i8' | '<f4' | '<f8' | `<U${number}`;

/** The 64-byte-aligned v1.0 header of an array of `dtype` and `shape` (C order). */
export function npyHeader(dtype: NpyDtype, shape: readonly number[]): Uint8Array {
  for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new RangeError(`npy shape must be non-negative integers, got [${shape.join(', ')}]`);
  const tuple = shape.length === 0 ? '()' : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${tuple}, }`;
  // magic(6) + version(2) + header length(2) + dict + padding + '\n' is a multiple of 64.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  if (dict.length > 0xffff) throw new RangeError('npy header too long');
  const out = new Uint8Array(10 + dict.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  out[8] = dict.length & 0xff;
  out[9] = dict.length >> 8;
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  return out;
}

export function bytesPerItem(dtype: NpyDtype): number {
  if (dtype.startsWith('<U')) return 4 * Number(dtype.slice(2));
  return { '|u1': 1, '|i1': 1, '<i4': 4, '<i8': 8, '<f4': 4, '<f8': 8 }[dtype as '|u1'];
}

/** Fixed-width UTF-32LE strings (numpy '<U{width}'), so a reader needs no pickle. */
export function utf32(strings: readonly string[]): { dtype: NpyDtype; data: Uint8Array } {
  const cps = strings.map((s) => Array.from(s, (c) => c.codePointAt(0)!));
  const width = Math.max(1, ...cps.map((c) => c.length));
  const data = new Uint8Array(strings.length * width * 4);
  const dv = new DataView(data.buffer);
  cps.forEach((c, i) => c.forEach((cp, j) => dv.setUint32((i * width + j) * 4, cp, true)));
  return { dtype: `<U${width}`, data };
}

/** Little-endian bytes of a typed array (this code runs on little-endian machines only; checked at load). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('npy writer: big-endian machines are not supported');

const ZIP_LIMIT = 0xffff_ffff - 64 * 1024; // below ZIP32's 4 GiB offsets/sizes, with room for the directory

export class NpzLimitError extends Error {
  override name = 'NpzLimitError';
}

/** Streams members into an .npz file: `begin` a member, `write` its data (header first), members one after another. */
export class NpzWriter {
  private readonly zip: Zip;
  private readonly fd: number;
  private written = 0;
  private member: { file: ZipPassThrough | ZipDeflate; name: string; left: number } | null = null;
  private error: Error | null = null;
  private finished: Promise<void>;

  constructor(
    readonly path: string,
    private readonly o: { compress?: boolean } = {},
  ) {
    this.fd = openSync(path, 'w');
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    this.finished = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.finished.catch(() => undefined); // observed by end()
    this.zip = new Zip((err, chunk, final) => {
      if (err) {
        this.error = err;
        reject(err);
        return;
      }
      let off = 0;
      while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
      this.written += chunk.length;
      if (final) resolve();
    });
  }

  /** Starts member `<name>.npy` holding an array of `dtype` and `shape`; its data must follow through write(). */
  begin(name: string, dtype: NpyDtype, shape: readonly number[]): void {
    if (this.member) throw new Error(`npz: member ${this.member.name} is not complete (${this.member.left} bytes missing)`);
    const bytes = shape.reduce((a, b) => a * b, 1) * bytesPerItem(dtype);
    if (this.written + bytes > ZIP_LIMIT)
      throw new NpzLimitError(`${this.path}: member ${name}.npy would take the archive past 4 GiB, which this writer (no ZIP64) cannot write`);
    const file = this.o.compress ? new ZipDeflate(`${name}.npy`, { level: 6 }) : new ZipPassThrough(`${name}.npy`);
    file.mtime = new Date('1980-01-01T00:00:00Z'); // fixed: the same data gives the same bytes
    this.zip.add(file);
    this.member = { file, name, left: bytes };
    file.push(npyHeader(dtype, shape), bytes === 0);
    if (bytes === 0) this.member = null;
  }

  /** Appends data to the current member; the member completes when all its bytes have come. */
  write(data: Uint8Array): void {
    const m = this.member;
    if (!m) throw new Error('npz: write() without begin()');
    if (data.length > m.left) throw new Error(`npz: member ${m.name} got ${data.length} bytes with ${m.left} left`);
    m.left -= data.length;
    m.file.push(data, m.left === 0);
    if (m.left === 0) this.member = null;
    if (this.error) throw this.error;
  }

  /** A whole member at once. */
  add(name: string, dtype: NpyDtype, shape: readonly number[], data: Uint8Array): void {
    this.begin(name, dtype, shape);
    if (data.length > 0) this.write(data);
  }

  /** Finishes the archive (central directory) and closes the file; returns its size in bytes. */
  async end(): Promise<number> {
    try {
      if (this.member) throw new Error(`npz: member ${this.member.name} is not complete (${this.member.left} bytes missing)`);
      this.zip.end();
      await this.finished;
      return this.written;
    } finally {
      closeSync(this.fd);
    }
  }

  /** Closes the file without finishing it (after an error). */
  abort(): void {
    try {
      this.zip.terminate();
    } finally {
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
    }
  }
}
