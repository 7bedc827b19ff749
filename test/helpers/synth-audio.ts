// Synthetic 1 s clips for front-end tests: tones, chirps, noise, speech-like bursts (a pulse
// train through formant resonators), silence, DC, clipping and quiet signals, all from a seed.
import { rng } from './devices.js';

export const CLIP_KINDS = ['tone', 'chirp', 'noise', 'speech', 'silence', 'clipped', 'quiet', 'mixed'] as const;
export type ClipKind = (typeof CLIP_KINDS)[number];

function toInt16(x: Float64Array, gain: number): Int16Array {
  return Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * gain))));
}

export function synthClip(kind: ClipKind, seed: number): Int16Array {
  const r = rng(seed);
  const n = 16000;
  const x = new Float64Array(n);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  switch (kind) {
    case 'tone': {
      const f = 50 + r() * 7000, a = 0.05 + r() * 0.9, ph = r() * 6.28;
      for (let i = 0; i < n; i++) x[i] = a * Math.sin((2 * Math.PI * f * i) / 16000 + ph);
      return toInt16(x, 32767);
    }
    case 'chirp': {
      const f0 = 20 + r() * 500, f1 = 1000 + r() * 7000, a = 0.1 + r() * 0.85;
      let ph = 0;
      for (let i = 0; i < n; i++) {
        ph += (2 * Math.PI * (f0 + ((f1 - f0) * i) / n)) / 16000;
        x[i] = a * Math.sin(ph);
      }
      return toInt16(x, 32767);
    }
    case 'noise': {
      const a = 10 ** (-r() * 3.5);
      let lp = 0;
      const alpha = r(); // colour: 0 white .. 1 strongly low-passed
      for (let i = 0; i < n; i++) {
        lp = alpha * lp + (1 - alpha) * gauss();
        x[i] = a * lp * 0.3;
      }
      return toInt16(x, 32767);
    }
    case 'speech': {
      // Glottal pulses at a gliding pitch through two formant resonators, in 1–3 word-like bursts.
      const bursts = 1 + Math.floor(r() * 3);
      for (let b = 0; b < bursts; b++) {
        const start = Math.floor(r() * 11000), len = 2000 + Math.floor(r() * 4000);
        const pitch = 90 + r() * 200, f1 = 300 + r() * 600, f2 = 900 + r() * 1800, a = 0.2 + r() * 0.6;
        let y1 = 0, y2 = 0, z1 = 0, z2 = 0, phase = 0;
        const res = (f: number): [number, number] => {
          const rr = 0.97, w = (2 * Math.PI * f) / 16000;
          return [2 * rr * Math.cos(w), -rr * rr];
        };
        const [a1, a2] = res(f1), [b1, b2] = res(f2);
        for (let i = start; i < Math.min(n, start + len); i++) {
          phase += (pitch * (1 + 0.2 * Math.sin(i / 900))) / 16000;
          const pulse = phase >= 1 ? 1 : 0;
          if (phase >= 1) phase -= 1;
          const src = pulse + 0.02 * gauss();
          const o1 = src + a1 * y1 + a2 * y2;
          y2 = y1; y1 = o1;
          const o2 = o1 + b1 * z1 + b2 * z2;
          z2 = z1; z1 = o2;
          const env = Math.sin((Math.PI * (i - start)) / len);
          x[i] = x[i]! + a * env * o2 * 0.02;
        }
      }
      return toInt16(x, 32767);
    }
    case 'silence': {
      const v = r();
      if (v < 0.3) return new Int16Array(n); // digital silence
      if (v < 0.5) return new Int16Array(n).fill(Math.round((r() - 0.5) * 200)); // DC offset
      for (let i = 0; i < n; i++) x[i] = Math.round(gauss() * r() * 2); // a few LSBs of noise
      return toInt16(x, 1);
    }
    case 'clipped': {
      const f = 100 + r() * 3000, drive = 2 + r() * 10;
      for (let i = 0; i < n; i++) x[i] = drive * (Math.sin((2 * Math.PI * f * i) / 16000) + 0.3 * gauss());
      return toInt16(x, 32767);
    }
    case 'quiet': {
      const f = 100 + r() * 3000;
      for (let i = 0; i < n; i++) x[i] = (1 + r() * 20) * Math.sin((2 * Math.PI * f * i) / 16000);
      return toInt16(x, 1);
    }
    case 'mixed': {
      const f = 100 + r() * 4000, a = r();
      for (let i = 0; i < n; i++) x[i] = a * (i > 5000 && i < 11000 ? Math.sin((2 * Math.PI * f * i) / 16000) : 0) + 0.001 * a * gauss();
      return toInt16(x, 32767);
    }
  }
}
