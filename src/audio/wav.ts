// WAV in: RIFF/WAVE, integer PCM 8-bit (unsigned) or 16-bit (signed little-endian), mono or
// stereo (averaged to mono), any rate from 8 to 48 kHz, resampled to 16 kHz with a windowed-sinc
// low-pass. Every size field is checked against the bytes actually present before it is used.
import { FormatError, UnsupportedError, DataError } from '../errors.js';

export const TARGET_RATE = 16000;
/** Longest file read: 10 MB (over a minute of 16-bit stereo at 44.1 kHz). */
export const MAX_WAV_BYTES = 10 * 1024 * 1024;
export const MIN_RATE = 8000;
export const MAX_RATE = 48000;
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export interface PcmAudio {
  /** Mono samples in [-1, 1). */
  samples: Float64Array;
  rate: number;
}

/** Parses a WAV file's bytes; `what` names it in errors. */
export function parseWav(bytes: Uint8Array, what = 'WAV'): PcmAudio {
  if (bytes.length > MAX_WAV_BYTES) throw new FormatError(`${what}: ${bytes.length} B is over the ${MAX_WAV_BYTES} B limit for a WAV clip`);
  if (bytes.length < 12) throw new FormatError(`${what}: ${bytes.length} B is too short for a RIFF header (12 B)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number): string => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new FormatError(`${what}: not a RIFF/WAVE file (starts with '${tag(0)}', type '${tag(8)}')`);
  let fmt: { channels: number; rate: number; bits: number; blockAlign: number } | null = null;
  let data: Uint8Array | null = null;
  let at = 12;
  // Chunk walk: each header is 8 B; a declared size past the end is truncation, not a size to trust.
  while (at + 8 <= bytes.length) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'data') {
      // Streaming writers (espeak-ng to a pipe, sox -) leave 0 or 0xFFFFFFFF here: take what is present.
      const end = size === 0 || size === 0xffffffff ? bytes.length : body + size;
      if (end > bytes.length) throw new FormatError(`${what}: data chunk declares ${size} B but only ${bytes.length - body} B follow; the file is truncated`);
      data = bytes.subarray(body, end);
      if (fmt) break;
    } else if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) throw new FormatError(`${what}: fmt chunk of ${size} B is too short or runs past the end of the file`);
      let format = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const rate = view.getUint32(body + 4, true);
      const blockAlign = view.getUint16(body + 12, true);
      const bits = view.getUint16(body + 14, true);
      if (format === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) throw new FormatError(`${what}: WAVE_FORMAT_EXTENSIBLE fmt chunk needs 40 B, has ${size}`);
        format = view.getUint16(body + 24, true); // first two bytes of the sub-format GUID
      }
      if (format !== WAVE_FORMAT_PCM) throw new UnsupportedError(`${what}: audio format ${format} is not integer PCM (1); convert it with e.g. 'sox in.wav -b 16 -e signed out.wav'`);
      if (bits !== 8 && bits !== 16) throw new UnsupportedError(`${what}: ${bits}-bit PCM is not supported; use 8- or 16-bit PCM`);
      if (channels !== 1 && channels !== 2) throw new UnsupportedError(`${what}: ${channels} channels; only mono and stereo are supported`);
      if (rate < MIN_RATE || rate > MAX_RATE) throw new UnsupportedError(`${what}: sample rate ${rate} Hz is outside ${MIN_RATE}..${MAX_RATE} Hz`);
      if (blockAlign !== channels * (bits / 8)) throw new FormatError(`${what}: block align ${blockAlign} does not match ${channels} channel(s) × ${bits} bits`);
      fmt = { channels, rate, bits, blockAlign };
      if (data) break;
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  if (!fmt) throw new FormatError(`${what}: no fmt chunk before the end of the file`);
  if (!data) throw new FormatError(`${what}: no data chunk`);
  const frames = Math.floor(data.length / fmt.blockAlign);
  if (frames === 0) throw new DataError(`${what}: the data chunk holds no complete sample frame`);
  const samples = new Float64Array(frames);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < fmt.channels; c++) {
      const off = i * fmt.blockAlign + c * (fmt.bits / 8);
      sum += fmt.bits === 16 ? dv.getInt16(off, true) / 32768 : (dv.getUint8(off) - 128) / 128;
    }
    samples[i] = sum / fmt.channels;
  }
  return { samples, rate: fmt.rate };
}

/**
 * Band-limited resampling: each output sample is a Kaiser-windowed sinc interpolation of the
 * input with the cut-off at the lower Nyquist frequency (so 44.1/48 kHz input is low-passed
 * before decimation and aliasing stays below about −70 dB).
 */
export function resample(samples: Float64Array, fromRate: number, toRate = TARGET_RATE): Float64Array {
  if (fromRate === toRate) return samples.slice();
  const ratio = toRate / fromRate;
  const cutoff = Math.min(1, ratio) * 0.97; // fraction of the input Nyquist kept
  const halfTaps = 16 / Math.min(1, ratio); // taps each side, in input samples, scaled for decimation
  const beta = 7.857; // Kaiser β for ~80 dB stop band
  const i0 = (x: number): number => {
    let sum = 1, term = 1;
    for (let k = 1; k < 30; k++) {
      term *= (x / (2 * k)) ** 2;
      sum += term;
    }
    return sum;
  };
  const i0Beta = i0(beta);
  const n = Math.floor((samples.length * toRate) / fromRate);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const t = j / ratio; // position in input samples
    const lo = Math.max(0, Math.ceil(t - halfTaps));
    const hi = Math.min(samples.length - 1, Math.floor(t + halfTaps));
    let acc = 0;
    for (let i = lo; i <= hi; i++) {
      const x = i - t;
      const r = x / halfTaps;
      const window = i0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
      const arg = Math.PI * cutoff * x;
      acc += samples[i]! * cutoff * (arg === 0 ? 1 : Math.sin(arg) / arg) * window;
    }
    out[j] = acc;
  }
  return out;
}

/**
 * The 1 s clip policy: a longer recording keeps the 1 s window with the most energy (the word,
 * not the silence around it); a shorter one is centred with zeros on both sides. Samples become
 * int16 with rounding and saturation, as a microphone's ADC would deliver them.
 */
export function toClip(samples: Float64Array, length = TARGET_RATE): Int16Array {
  let start = 0;
  if (samples.length > length) {
    // Sliding energy over windows of `length`, in 10 ms steps, first maximum wins.
    const prefix = new Float64Array(samples.length + 1);
    for (let i = 0; i < samples.length; i++) prefix[i + 1] = prefix[i]! + samples[i]! * samples[i]!;
    let best = -1;
    for (let s = 0; s + length <= samples.length; s += 160) {
      const e = prefix[s + length]! - prefix[s]!;
      if (e > best) {
        best = e;
        start = s;
      }
    }
    const last = samples.length - length;
    if (prefix[samples.length]! - prefix[last]! > best) start = last;
  }
  const out = new Int16Array(length);
  const pad = samples.length < length ? Math.floor((length - samples.length) / 2) : 0;
  for (let i = 0; i < length; i++) {
    const src = samples.length < length ? i - pad : start + i;
    if (src < 0 || src >= samples.length) continue;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[src]! * 32768)));
  }
  return out;
}

/** Reads a WAV file into a 1 s, 16 kHz, int16 clip (see toClip for the policy). */
export async function readWavClip(path: string): Promise<Int16Array> {
  // Imported here, not at the top, so the page's bundles can use the parser without node:fs.
  const { readFile, stat } = await import('node:fs/promises');
  const info = await stat(path).catch(() => null);
  if (!info || !info.isFile()) throw new DataError(`${path}: not a readable file`);
  if (info.size > MAX_WAV_BYTES) throw new FormatError(`${path}: ${info.size} B is over the ${MAX_WAV_BYTES} B limit for a WAV clip`);
  const audio = parseWav(await readFile(path), path);
  return toClip(resample(audio.samples, audio.rate));
}

/** A 16-bit mono PCM WAV file's bytes (for generated test sets and tests). */
export function encodeWav(samples: Int16Array, rate = TARGET_RATE): Uint8Array {
  const bytes = new Uint8Array(44 + samples.length * 2);
  const view = new DataView(bytes.buffer);
  const put = (at: number, s: string): void => {
    for (let i = 0; i < 4; i++) bytes[at + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  view.setUint32(4, 36 + samples.length * 2, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, WAVE_FORMAT_PCM, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, 'data');
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + i * 2, samples[i]!, true);
  return bytes;
}
