// A folder of PNGs, one sub-folder per class (torchvision's ImageFolder layout), read into a Dataset
// at the model's input size. Like the IDX reader, every size is checked before the allocation it
// would justify: the IHDR's declared width·height is bounded before pngjs decodes anything, each
// file's byte size is bounded before it is read, and the whole dataset's size is bounded before
// its Float32Array exists. Each failure names the file so the user can fix or remove it.
import { readdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { readBounded } from '../io/bounded-read.js';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { PNG, type PNGWithMetadata } from 'pngjs';
import { ConfigError, DataError, FormatError } from '../errors.js';
import type { Dataset } from './dataset.js';

export interface ImageFolderOptions {
  /** Output [H, W] of every sample (the model's input size). */
  size: [number, number];
  /** 1: grey (ITU-R BT.601 luma from colour PNGs); 3: RGB (grey PNGs are replicated). */
  channels: 1 | 3;
  /**
   * Read at most this many images in total, taken round-robin over classes (the first files of
   * each class in sorted order) so a small cap stays class-balanced.
   */
  maxImages?: number;
  /**
   * What a pixel that is not fully opaque means. 'reject' (default): a FormatError, because a
   * transparent pixel has no grey level until someone chooses a background; 'black' / 'white':
   * composite onto that background.
   */
  alpha?: 'reject' | 'black' | 'white';
  /** Largest width·height an IHDR may declare (default 4096·4096). */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 4096 * 4096;
/** A PNG at most 4096·4096 RGBA·16 bit is 128 MiB raw; a compressed file larger than that is not an image we want. */
const MAX_FILE_BYTES = 128 * 1024 * 1024;
/** The decoded dataset's Float32Array: 2^28 values = 1 GiB. */
const MAX_DATASET_VALUES = 1 << 28;
const MAX_SIDE = 4096;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

const BITS_PER_PIXEL_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Read and check the signature and IHDR (the first chunk, by the PNG spec) without decoding pixel
 * data, so a file declaring 100000×100000 is refused before any buffer of that size exists.
 */
export function readPngHeader(bytes: Uint8Array, what: string, maxPixels = DEFAULT_MAX_PIXELS): PngHeader {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new FormatError(`${what}: not a PNG file (bad signature); only PNG images are supported, convert or remove it`);
  }
  // signature(8) + length(4) + 'IHDR'(4) + 13 data bytes + CRC(4)
  if (bytes.length < 33) throw new FormatError(`${what}: truncated PNG (${bytes.length} B, the header alone needs 33 B)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!);
  if (type !== 'IHDR' || view.getUint32(8) !== 13) throw new FormatError(`${what}: corrupt PNG: the first chunk must be a 13-byte IHDR, found '${type}' of ${view.getUint32(8)} B`);
  const header: PngHeader = {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: bytes[24]!,
    colorType: bytes[25]!,
    interlace: bytes[28]!,
  };
  const { width, height } = header;
  if (width === 0 || height === 0) throw new FormatError(`${what}: PNG declares an empty ${width}×${height} image`);
  if (width * height > maxPixels) {
    throw new FormatError(`${what}: PNG declares ${width}×${height} = ${width * height} pixels, more than the limit of ${maxPixels}; refusing to decode it (resize the image or raise maxPixels)`);
  }
  if (BITS_PER_PIXEL_CHANNELS[header.colorType] === undefined) throw new FormatError(`${what}: PNG colour type ${header.colorType} is not defined by the PNG spec (corrupt file)`);
  return header;
}

/**
 * Inflate the IDAT data with Node's zlib first, with an output cap derived from the (already
 * bounded) header. pngjs inflates interlaced (Adam7) data without a bound (a deflate stream can
 * expand ~1000:1), and for non-interlaced data its bounded inflate does not reject a stream that is
 * not valid zlib: it then decodes whatever its output buffer held, so a corrupt file could yield
 * different garbage pixels on every read. Here such a file is a FormatError, every time.
 */
function checkInflate(bytes: Uint8Array, header: PngHeader, what: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  let pos = 8;
  while (pos + 12 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!, bytes[pos + 6]!, bytes[pos + 7]!);
    if (pos + 12 + length > bytes.length) throw new FormatError(`${what}: truncated PNG (chunk '${type}' needs ${length} B past the end of the file)`);
    if (type === 'IDAT') parts.push(bytes.subarray(pos + 8, pos + 8 + length));
    if (type === 'IEND') break;
    pos += 12 + length;
  }
  const bitsPerPixel = BITS_PER_PIXEL_CHANNELS[header.colorType]! * header.bitDepth;
  // Adam7's seven passes hold every pixel once plus one filter byte per pass row (≤ 7·height rows,
  // and each pass row is padded to whole bytes).
  const bound = Math.ceil((header.width * header.height * bitsPerPixel) / 8) + 15 * header.height + 64;
  let inflated: Buffer;
  try {
    inflated = inflateSync(Buffer.concat(parts), { maxOutputLength: bound });
  } catch (e) {
    throw new FormatError(`${what}: corrupt PNG: image data does not inflate to at most ${bound} B (${(e as Error).message}); re-export or remove it`);
  }
  const needed = header.interlace === 0 ? header.height * (1 + Math.ceil((header.width * bitsPerPixel) / 8)) : 0;
  if (inflated.length < needed) throw new FormatError(`${what}: truncated PNG: image data inflates to ${inflated.length} B, ${header.width}×${header.height} needs ${needed} B; re-export or remove it`);
}

interface DecodedImage {
  width: number;
  height: number;
  /** Channel-interleaved values in [0, 1], `channels` per pixel. */
  pixels: Float32Array;
}

/** Decode one PNG file's bytes into grey or RGB values in [0, 1] (alpha handled per `alpha`). */
export function decodePng(bytes: Uint8Array, what: string, channels: 1 | 3, alpha: 'reject' | 'black' | 'white' = 'reject', maxPixels = DEFAULT_MAX_PIXELS): DecodedImage {
  const header = readPngHeader(bytes, what, maxPixels);
  checkInflate(bytes, header, what);
  let png: PNGWithMetadata;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { checkCRC: true });
  } catch (e) {
    throw new FormatError(`${what}: corrupt or truncated PNG (${(e as Error).message}); re-export or remove it`);
  }
  const { width, height, data } = png;
  if (width !== header.width || height !== header.height || data.length !== width * height * 4) {
    throw new FormatError(`${what}: corrupt PNG: decoded ${data.length} B for ${width}×${height} (header said ${header.width}×${header.height})`);
  }
  // pngjs normalises every colour type and depth to 8-bit RGBA.
  const pixels = new Float32Array(width * height * channels);
  const background = alpha === 'white' ? 1 : 0;
  for (let p = 0; p < width * height; p++) {
    const a = data[4 * p + 3]! / 255;
    if (a < 1 && alpha === 'reject') {
      const x = p % width;
      const y = Math.floor(p / width);
      throw new FormatError(`${what}: pixel (${x}, ${y}) is ${a === 0 ? 'transparent' : 'translucent'}, which has no ${channels === 1 ? 'grey level' : 'colour'} without a background; pass alpha: 'black' or 'white', or flatten the image`);
    }
    const r = data[4 * p]! / 255;
    const g = data[4 * p + 1]! / 255;
    const b = data[4 * p + 2]! / 255;
    const over = (v: number): number => v * a + background * (1 - a);
    if (channels === 1) {
      // BT.601 luma, the weights PIL's convert('L') and torchvision's Grayscale use.
      pixels[p] = over(0.299 * r + 0.587 * g + 0.114 * b);
    } else {
      pixels[3 * p] = over(r);
      pixels[3 * p + 1] = over(g);
      pixels[3 * p + 2] = over(b);
    }
  }
  return { width, height, pixels };
}

/**
 * Resampling weights along one axis, as a sparse (start, weights) list per output sample.
 * Downscaling averages the input area each output pixel covers (fractional edges weighted by
 * overlap), so no input pixel is skipped and thin strokes survive; upscaling is bilinear with
 * half-pixel centres (align_corners=false), the convention of PyTorch and TF2. Equal sizes give
 * the identity either way.
 */
export function axisWeights(inSize: number, outSize: number): { start: number; weights: number[] }[] {
  const out: { start: number; weights: number[] }[] = [];
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    if (scale >= 1) {
      const lo = o * scale;
      const hi = (o + 1) * scale;
      const start = Math.floor(lo);
      const end = Math.min(inSize, Math.ceil(hi - 1e-9));
      const weights: number[] = [];
      for (let i = start; i < end; i++) weights.push((Math.min(hi, i + 1) - Math.max(lo, i)) / scale);
      out.push({ start, weights });
    } else {
      const src = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inSize - 1);
      const i0 = Math.floor(src);
      const f = src - i0;
      // A sample that lands exactly on a pixel (always at the clamped edges) needs one tap.
      out.push(f > 0 && i0 + 1 < inSize ? { start: i0, weights: [1 - f, f] } : { start: i0, weights: [1] });
    }
  }
  return out;
}

/** Separable resize of channel-interleaved [h][w][c] values to [outH][outW][c], written at `target`. */
export function resizeInto(src: Float32Array, h: number, w: number, c: number, outH: number, outW: number, target: Float32Array, offset = 0): void {
  const wx = axisWeights(w, outW);
  const wy = axisWeights(h, outH);
  // Rows first (h × outW × c), then columns: each pass touches every input once per tap.
  const tmp = new Float32Array(h * outW * c);
  for (let y = 0; y < h; y++) {
    for (let ox = 0; ox < outW; ox++) {
      const { start, weights } = wx[ox]!;
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k]! * src[(y * w + start + k) * c + ch]!;
        tmp[(y * outW + ox) * c + ch] = s;
      }
    }
  }
  for (let oy = 0; oy < outH; oy++) {
    const { start, weights } = wy[oy]!;
    for (let ox = 0; ox < outW; ox++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k]! * tmp[((start + k) * outW + ox) * c + ch]!;
        // Weights sum to 1, so the only way out of [0, 1] is rounding: clamp it away.
        target[offset + (oy * outW + ox) * c + ch] = Math.min(1, Math.max(0, s));
      }
    }
  }
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function checkOptions(o: ImageFolderOptions): void {
  const [h, w] = o.size ?? [];
  for (const [label, v] of [['height', h], ['width', w]] as const) {
    if (!Number.isInteger(v) || v! < 1 || v! > MAX_SIDE) throw new ConfigError(`image folder: output ${label} must be an integer in [1, ${MAX_SIDE}], got ${v}`);
  }
  if (o.channels !== 1 && o.channels !== 3) throw new ConfigError(`image folder: channels must be 1 (grey) or 3 (RGB), got ${o.channels}`);
  if (o.maxImages !== undefined && (!Number.isInteger(o.maxImages) || o.maxImages < 1)) throw new ConfigError(`image folder: maxImages must be an integer ≥ 1, got ${o.maxImages}`);
  if (o.alpha !== undefined && !['reject', 'black', 'white'].includes(o.alpha)) throw new ConfigError(`image folder: alpha must be 'reject', 'black' or 'white', got '${o.alpha}'`);
  if (o.maxPixels !== undefined && (!Number.isInteger(o.maxPixels) || o.maxPixels < 1)) throw new ConfigError(`image folder: maxPixels must be an integer ≥ 1, got ${o.maxPixels}`);
}

/**
 * Read `dir/<class>/<image>.png` into a Dataset. Class ids follow the sorted (by code unit, so the
 * same on every locale) folder names; images are in sorted file order within each class, classes
 * in id order. Hidden entries (names starting with '.') and plain files at the top level (a README)
 * are skipped; any other file in a class folder must be a PNG. Symbolic links are followed (a
 * class folder or image linked from elsewhere counts like a real one); a broken link, or one to a
 * FIFO or device, is an error naming it — never skipped silently, which would shift class ids.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<Dataset> {
  checkOptions(options);
  const [outH, outW] = options.size;
  const channels = options.channels;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataError(`cannot read image folder '${dir}': ${(e as Error).message}`);
  }
  const topKinds = await Promise.all(entries.map((e) => entryKind(dir, e)));
  const classNames = entries.filter((e, i) => topKinds[i] === 'directory' && !e.name.startsWith('.')).map((e) => e.name).sort(byCodeUnit);
  if (classNames.length === 0) throw new DataError(`image folder '${dir}' has no class sub-folders; expected one folder of PNGs per class (${dir}/<class>/<image>.png)`);

  const files: string[][] = [];
  for (const name of classNames) {
    const classDir = join(dir, name);
    let inside;
    try {
      inside = await readdir(classDir, { withFileTypes: true });
    } catch (e) {
      throw new DataError(`cannot read class folder '${classDir}': ${(e as Error).message}`);
    }
    const visible = inside.filter((e) => !e.name.startsWith('.'));
    const kinds = await Promise.all(visible.map((e) => entryKind(classDir, e)));
    const nested = visible.find((_, i) => kinds[i] === 'directory');
    if (nested) throw new DataError(`image folder '${dir}': class '${name}' contains the folder '${nested.name}'; the layout is flat (${dir}/<class>/<image>.png)`);
    const odd = visible.findIndex((_, i) => kinds[i] !== 'file');
    if (odd >= 0) throw new DataError(`image folder '${dir}': '${join(classDir, visible[odd]!.name)}' is ${kinds[odd]}, not an image file; remove it or point the link at a PNG`);
    const names = visible.filter((_, i) => kinds[i] === 'file').map((e) => e.name).sort(byCodeUnit);
    const notPng = names.find((n) => !n.toLowerCase().endsWith('.png'));
    if (notPng) throw new FormatError(`${join(classDir, notPng)}: not a PNG file; only PNG images are supported, convert or remove it`);
    if (names.length === 0) throw new DataError(`image folder '${dir}': class '${name}' has no images; add PNGs or remove the folder`);
    files.push(names.map((n) => join(classDir, n)));
  }

  // Cap round-robin: take the i-th file of every class before any class's (i+1)-th.
  const take = files.map(() => 0);
  const limit = options.maxImages ?? Infinity;
  let total = 0;
  for (let round = 0; total < limit; round++) {
    let progressed = false;
    for (let c = 0; c < files.length && total < limit; c++) {
      if (round < files[c]!.length) {
        take[c]!++;
        total++;
        progressed = true;
      }
    }
    if (!progressed) break;
  }

  const size = outH * outW * channels;
  if (total * size > MAX_DATASET_VALUES) {
    throw new DataError(`image folder '${dir}': ${total} images of ${outH}×${outW}×${channels} need ${total * size} values, more than the limit of ${MAX_DATASET_VALUES}; pass maxImages`);
  }
  const images = new Float32Array(total * size);
  const labels = new Int32Array(total);
  let n = 0;
  for (let c = 0; c < files.length; c++) {
    for (const path of files[c]!.slice(0, take[c])) {
      // Bounded while reading (PNGs within the pixel limit need at most MAX_FILE_BYTES); a FIFO or
      // device is a FileError naming it.
      const bytes = await readBounded(path, { maxBytes: MAX_FILE_BYTES, what: 'image' });
      const img = decodePng(bytes, path, channels, options.alpha ?? 'reject', options.maxPixels ?? DEFAULT_MAX_PIXELS);
      resizeInto(img.pixels, img.height, img.width, channels, outH, outW, images, n * size);
      labels[n++] = c;
    }
  }
  return { name: `image-folder:${dir}`, shape: [outH, outW, channels], images, labels, classes: classNames.length, classNames };
}

/** What a directory entry is, following symbolic links: 'directory', 'file', or a description of anything else. */
async function entryKind(dir: string, e: Dirent): Promise<string> {
  if (!e.isSymbolicLink()) return e.isDirectory() ? 'directory' : e.isFile() ? 'file' : 'a FIFO, socket or device';
  const s = await stat(join(dir, e.name)).catch(() => null);
  if (!s) return 'a broken symbolic link';
  return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'a link to a FIFO, socket or device';
}
