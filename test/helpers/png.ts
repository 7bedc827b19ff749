// PNG files crafted byte by byte, so tests can declare any header (huge sizes, odd depths) and put
// a valid or broken compressed stream behind it — things no encoder would write.
import { crc32 } from '../../src/model/container.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export interface PngHeader {
  width: number;
  height: number;
  depth?: number;
  colorType?: number;
  interlace?: number;
}

/** A PNG with the given IHDR and `idat` (already compressed, or deliberately not) as its only data chunk. */
export function craftPng(header: PngHeader, idat: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, header.width);
  view.setUint32(4, header.height);
  ihdr.set([header.depth ?? 8, header.colorType ?? 0, 0, 0, header.interlace ?? 0], 8);
  const parts = [Uint8Array.from(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
