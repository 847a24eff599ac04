/**
 * Image encoding and decoding (sharp), in one place: PNG for the log's viewers and exports, decoding of compressed
 * camera frames, and SVG plots to PNG. Everything else handles raw RGB (core/types.ts RgbImage).
 */
import sharp from 'sharp';
import type { RgbImage } from '../core/types.ts';

/** Lossless PNG of an RGB image. Level 6 is sharp's default trade-off; adaptive filtering suits camera frames. */
export async function encodePng(img: RgbImage, o: { compressionLevel?: number; adaptiveFiltering?: boolean } = {}): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: o.compressionLevel ?? 6, adaptiveFiltering: o.adaptiveFiltering ?? true })
    .toBuffer();
}

/**
 * An encoded frame (PNG, JPEG, ... as sharp reads them) or a raw RGB image, as RGB of size x size: centre crop to a
 * square, then resize. Throws with sharp's reason when the bytes do not decode.
 */
export async function toSquareRgb(input: Uint8Array | RgbImage, size: number): Promise<RgbImage> {
  if (!(input instanceof Uint8Array) && input.width === size && input.height === size) return input;
  const s = input instanceof Uint8Array ? sharp(input) : sharp(input.data, { raw: { width: input.width, height: input.height, channels: 3 } });
  const { data, info } = await s.removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
  return { width: size, height: size, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Renders an SVG document to a PNG file. */
export async function svgToPngFile(svg: string, file: string): Promise<void> {
  await sharp(Buffer.from(svg)).png().toFile(file);
}

/** An encoded frame (JPEG, PNG, ... as sharp reads them) as packed RGB at its own size. */
export async function decodeImage(data: Uint8Array): Promise<RgbImage> {
  const { data: px, info } = await sharp(data).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
  return { width: info.width, height: info.height, data: new Uint8Array(px.buffer, px.byteOffset, px.length) };
}

/** PNG (lossless) or JPEG (quality 95) of an RGB image. */
export async function encodeImage(img: RgbImage, format: 'png' | 'jpeg'): Promise<Buffer> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 95 }).toBuffer();
}
