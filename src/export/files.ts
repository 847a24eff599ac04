/** File adapters for @mcap/core: its writer wants an IWritable, its indexed reader an IReadable. */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import type { IWritable, McapTypes } from '@mcap/core';

/**
 * Appends to a file descriptor. Synchronous writes behind the async interface: the exporter is a batch tool, and a
 * sync write of a chunk (~1 MiB) costs less than a thread-pool round trip.
 */
export class FileWritable implements IWritable {
  private pos = 0n;
  constructor(private readonly fd: number) {}

  static create(path: string): FileWritable {
    return new FileWritable(openSync(path, 'w'));
  }

  async write(buffer: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buffer.length) off += writeSync(this.fd, buffer, off, buffer.length - off);
    this.pos += BigInt(buffer.length);
  }

  position(): bigint {
    return this.pos;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Random-access reads of a file, for McapIndexedReader. */
export class FileReadable implements McapTypes.IReadable {
  private readonly bytes: bigint;
  constructor(private readonly fd: number) {
    this.bytes = BigInt(fstatSync(fd).size);
  }

  static open(path: string): FileReadable {
    return new FileReadable(openSync(path, 'r'));
  }

  async size(): Promise<bigint> {
    return this.bytes;
  }

  async read(offset: bigint, size: bigint): Promise<Uint8Array> {
    if (offset + size > this.bytes) throw new RangeError(`read of ${size} bytes at ${offset} is beyond the end of the file (${this.bytes} bytes)`);
    const out = new Uint8Array(Number(size));
    let got = 0;
    while (got < out.length) {
      const n = readSync(this.fd, out, got, out.length - got, Number(offset) + got);
      if (n === 0) throw new RangeError(`file ended at ${Number(offset) + got} while reading`);
      got += n;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}
