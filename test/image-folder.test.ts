import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { loadImageFolder, axisWeights } from '../src/data/image-folder.js';
import { DataError, FormatError, ConfigError } from '../src/errors.js';

/** A PNG of `width`×`height` whose RGBA bytes come from `pixel(x, y)`, written as `colorType`. */
function png(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number?], colorType: 0 | 2 | 6 = 6): Buffer {
  const image = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b, a = 255] = pixel(x, y);
      image.data.set([r, g, b, a], 4 * (y * width + x));
    }
  }
  return PNG.sync.write(image, { colorType });
}

const grey = (v: (x: number, y: number) => number) => (x: number, y: number): [number, number, number] => [v(x, y), v(x, y), v(x, y)];

const created: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lastmile-imgfolder-'));
  created.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** Writes { class: { file: bytes } } under a fresh temp dir. */
function folder(layout: Record<string, Record<string, Uint8Array>>): string {
  const dir = tempDir();
  for (const [cls, files] of Object.entries(layout)) {
    mkdirSync(join(dir, cls));
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, cls, name), bytes);
  }
  return dir;
}

// CRC-32 (ISO-HDLC), so forged headers carry a valid CRC and only their declared size is hostile.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
/** A hand-built grey 8-bit PNG: IHDR with the given fields, one IDAT holding `raw` deflated. */
function rawPng(width: number, height: number, interlace: 0 | 1, raw: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, interlace], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

function idatOffset(bytes: Buffer): number {
  const at = bytes.indexOf(Buffer.from('IDAT', 'latin1'));
  if (at < 0) throw new Error('test PNG has no IDAT');
  return at - 4;
}

describe('image folder reader', () => {
  it('maps sorted class folders to ids and reads files in sorted order', async () => {
    const flat = (v: number) => png(4, 4, grey(() => v), 0);
    // Written out of order on purpose: ids and order must come from sorting, not from the file system.
    const dir = folder({
      zebra: { 'b.png': flat(40), 'a.png': flat(30) },
      Apple: { '2.png': flat(20), '10.png': flat(10) },
      mango: { 'x.png': flat(50) },
    });
    const d = await loadImageFolder(dir, { size: [4, 4], channels: 1 });
    expect(d.classNames).toEqual(['Apple', 'mango', 'zebra']);
    expect(d.classes).toBe(3);
    expect(d.shape).toEqual([4, 4, 1]);
    expect(Array.from(d.labels)).toEqual([0, 0, 1, 2, 2]);
    // '10.png' < '2.png' by code unit: the same order on every locale.
    expect(Array.from({ length: 5 }, (_, i) => Math.round(d.images[i * 16]! * 255))).toEqual([10, 20, 50, 30, 40]);
  });

  it('downscales 56×56 to 28×28 by averaging each 2×2 block exactly', async () => {
    const v = (x: number, y: number) => (x * 7 + y * 13 + ((x * y) % 5) * 17) % 256;
    const dir = folder({ a: { 'p.png': png(56, 56, grey(v), 0) } });
    const d = await loadImageFolder(dir, { size: [28, 28], channels: 1 });
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const mean = (v(2 * x, 2 * y) + v(2 * x + 1, 2 * y) + v(2 * x, 2 * y + 1) + v(2 * x + 1, 2 * y + 1)) / 4 / 255;
        expect(d.images[y * 28 + x]).toBeCloseTo(mean, 6);
      }
    }
  });

  it('downscales by a non-integer factor with fractional area weights (3 → 2: (2a+b)/3, (b+2c)/3)', async () => {
    const levels = [30, 90, 240];
    const dir = folder({ a: { 'p.png': png(3, 1, grey((x) => levels[x]!), 0) } });
    const d = await loadImageFolder(dir, { size: [1, 2], channels: 1 });
    expect(d.images[0]).toBeCloseTo((2 * 30 + 90) / 3 / 255, 6);
    expect(d.images[1]).toBeCloseTo((90 + 2 * 240) / 3 / 255, 6);
  });

  it('upscales bilinearly with half-pixel centres (2 → 4: a, ¾a+¼b, ¼a+¾b, b)', async () => {
    const dir = folder({ a: { 'p.png': png(2, 1, grey((x) => (x === 0 ? 0 : 200)), 0) } });
    const d = await loadImageFolder(dir, { size: [1, 4], channels: 1 });
    expect(Array.from(d.images).map((v) => v * 255)).toEqual([0, 50, 150, 200].map((e) => expect.closeTo(e, 3)));
    expect(axisWeights(2, 4).map((t) => t.weights.length)).toEqual([1, 2, 2, 1]);
    // Both axes: output (1, 1) samples the source at (0.25, 0.25) → 9/16·a + 3/16·b + 3/16·c + 1/16·d.
    const corners = [[0, 160], [80, 240]];
    const dir2 = folder({ a: { 'q.png': png(2, 2, grey((x, y) => corners[y]![x]!), 0) } });
    const e = await loadImageFolder(dir2, { size: [4, 4], channels: 1 });
    expect(e.images[1 * 4 + 1]! * 255).toBeCloseTo((9 * 0 + 3 * 160 + 3 * 80 + 1 * 240) / 16, 3);
    expect(e.images[3 * 4 + 3]! * 255).toBeCloseTo(240, 3);
  });

  it('converts colour to grey with BT.601 luma and grey to RGB by replication', async () => {
    const dir = folder({
      colour: { 'rgb.png': png(1, 1, () => [255, 0, 0], 2), 'rgb2.png': png(1, 1, () => [0, 255, 0], 2) },
      plain: { 'g.png': png(1, 1, () => [128, 128, 128], 0) },
    });
    const g = await loadImageFolder(dir, { size: [1, 1], channels: 1 });
    expect(g.images[0]).toBeCloseTo(0.299, 6);
    expect(g.images[1]).toBeCloseTo(0.587, 6);
    expect(g.images[2]).toBeCloseTo(128 / 255, 6);
    const rgb = await loadImageFolder(dir, { size: [1, 1], channels: 3 });
    expect(rgb.shape).toEqual([1, 1, 3]);
    expect(Array.from(rgb.images.subarray(0, 3))).toEqual([1, 0, 0]);
    expect(Array.from(rgb.images.subarray(6, 9)).map((v) => Math.round(v * 255))).toEqual([128, 128, 128]);
  });

  it('rejects transparent pixels unless a background is chosen, then composites onto it', async () => {
    const dir = folder({ a: { 'ghost.png': png(2, 1, (x) => [200, 200, 200, x === 0 ? 255 : 0], 6) } });
    await expect(loadImageFolder(dir, { size: [1, 2], channels: 1 })).rejects.toThrow(/ghost\.png: pixel \(1, 0\) is transparent/);
    await expect(loadImageFolder(dir, { size: [1, 2], channels: 1 })).rejects.toBeInstanceOf(FormatError);
    const white = await loadImageFolder(dir, { size: [1, 2], channels: 1, alpha: 'white' });
    expect(white.images[1]).toBe(1);
    const black = await loadImageFolder(dir, { size: [1, 2], channels: 1, alpha: 'black' });
    expect(black.images[0]).toBeCloseTo(200 / 255, 6);
    expect(black.images[1]).toBe(0);
  });

  it('maxImages takes files round-robin over classes so a small cap stays balanced', async () => {
    const p = png(2, 2, grey(() => 0), 0);
    const dir = folder({ a: { '1.png': p, '2.png': p, '3.png': p }, b: { '1.png': p, '2.png': p, '3.png': p }, c: { '1.png': p } });
    const d = await loadImageFolder(dir, { size: [2, 2], channels: 1, maxImages: 5 });
    expect(Array.from(d.labels)).toEqual([0, 0, 1, 1, 2]);
    expect(d.images.length).toBe(5 * 4);
  });

  it('missing, empty and image-less folders are DataErrors that say what to do', async () => {
    await expect(loadImageFolder('/nonexistent/lastmile-images', { size: [2, 2], channels: 1 })).rejects.toThrow(DataError);
    await expect(loadImageFolder(tempDir(), { size: [2, 2], channels: 1 })).rejects.toThrow(/no class sub-folders/);
    const dir = folder({ a: { '1.png': png(2, 2, grey(() => 0), 0) }, empty: {} });
    await expect(loadImageFolder(dir, { size: [2, 2], channels: 1 })).rejects.toThrow(/class 'empty' has no images/);
    await expect(loadImageFolder(dir, { size: [2, 2], channels: 1 })).rejects.toBeInstanceOf(DataError);
  });

  it('non-PNG files are FormatErrors naming the file, by extension and by content', async () => {
    const ok = png(2, 2, grey(() => 0), 0);
    const byName = folder({ a: { '1.png': ok, 'notes.txt': Buffer.from('hello') } });
    await expect(loadImageFolder(byName, { size: [2, 2], channels: 1 })).rejects.toThrow(/notes\.txt: not a PNG file/);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]);
    const byContent = folder({ a: { 'photo.png': jpeg } });
    const err = await loadImageFolder(byContent, { size: [2, 2], channels: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toMatch(/photo\.png: not a PNG file \(bad signature\)/);
  });

  it('truncated PNGs and PNGs with a bad CRC are FormatErrors naming the file', async () => {
    const good = png(8, 8, grey((x, y) => x * 30 + y), 0);
    const truncated = good.subarray(0, good.length - 20);
    const badCrc = Buffer.from(good);
    const idat = idatOffset(badCrc);
    const idatLength = badCrc.readUInt32BE(idat);
    badCrc[idat + 8 + idatLength]! ^= 0xff; // first byte of IDAT's CRC
    for (const [name, bytes] of [['cut.png', truncated], ['crc.png', badCrc], ['header-only.png', good.subarray(0, 20)]] as const) {
      const dir = folder({ a: { [name]: bytes } });
      const err = await loadImageFolder(dir, { size: [8, 8], channels: 1 }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(FormatError);
      expect((err as Error).message, name).toContain(name);
    }
    // The untouched file reads: the failures above come from the damage, not from the writer.
    const d = await loadImageFolder(folder({ a: { 'good.png': good } }), { size: [8, 8], channels: 1 });
    expect(d.images[9]! * 255).toBeCloseTo(31, 3);
  });

  it('a forged IHDR declaring 100000×100000 is refused from the header, before pngjs decodes', async () => {
    const forged = Buffer.from(png(2, 2, grey(() => 0), 0));
    forged.writeUInt32BE(100_000, 16);
    forged.writeUInt32BE(100_000, 20);
    // Re-sign the IHDR so the CRC is valid: only the declared size is hostile, and the message
    // must be the size limit (a CRC or inflate complaint would mean the decoder ran first).
    forged.writeUInt32BE(crc32(forged.subarray(12, 29)), 29);
    const dir = folder({ a: { 'huge.png': forged } });
    await expect(loadImageFolder(dir, { size: [2, 2], channels: 1 })).rejects.toThrow(/huge\.png: PNG declares 100000×100000 = 10000000000 pixels, more than the limit of 16777216/);
    // The limit is configurable both ways.
    const small = folder({ a: { 's.png': png(4, 4, grey(() => 0), 0) } });
    await expect(loadImageFolder(small, { size: [2, 2], channels: 1, maxPixels: 15 })).rejects.toThrow(FormatError);
  });

  it('an interlaced PNG whose data inflates far past its declared size is refused (zip bomb)', async () => {
    // 1×1 interlaced: only Adam7 pass 1 has a row, [filter 0, level].
    const tiny = rawPng(1, 1, 1, Uint8Array.from([0, 77]));
    const d = await loadImageFolder(folder({ a: { 'one.png': tiny } }), { size: [1, 1], channels: 1 });
    expect(d.images[0]! * 255).toBeCloseTo(77, 3);
    const bomb = rawPng(16, 16, 1, new Uint8Array(8 * 1024 * 1024));
    await expect(loadImageFolder(folder({ a: { 'bomb.png': bomb } }), { size: [1, 1], channels: 1 })).rejects.toThrow(/bomb\.png: corrupt PNG: image data does not inflate/);
  });

  it('bad options are ConfigErrors', async () => {
    const dir = folder({ a: { '1.png': png(2, 2, grey(() => 0), 0) } });
    await expect(loadImageFolder(dir, { size: [0, 2], channels: 1 })).rejects.toThrow(ConfigError);
    await expect(loadImageFolder(dir, { size: [2, 2], channels: 2 as 1 })).rejects.toThrow(/channels must be 1/);
    await expect(loadImageFolder(dir, { size: [2, 2], channels: 1, maxImages: 0 })).rejects.toThrow(/maxImages/);
  });

  it('reading twice gives identical bytes', async () => {
    const dir = folder({ b: { 'q.png': png(5, 7, (x, y) => [x * 40, y * 30, 99], 2) }, a: { 'p.png': png(9, 3, (x, y) => [x * 20, 0, y * 80], 2) } });
    const a = await loadImageFolder(dir, { size: [4, 4], channels: 3 });
    const b = await loadImageFolder(dir, { size: [4, 4], channels: 3 });
    expect(Buffer.from(a.images.buffer)).toEqual(Buffer.from(b.images.buffer));
    expect(a.classNames).toEqual(['a', 'b']);
  });
});
