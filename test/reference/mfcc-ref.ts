// Float64 reference of the MLPerf Tiny KWS front end, written straight from TensorFlow's
// definitions (get_dataset.py: x / reduce_max(x), tf.signal.stft with a periodic Hann window,
// |·|, linear_to_mel_weight_matrix, log(mel + 1e-6), mfccs_from_log_mel_spectrograms). The DFT is a
// direct sum, independent of any FFT code.
const WINDOW = 480, STRIDE = 320, FFT = 512, FRAMES = 49, MELS = 40, COEFFS = 10, RATE = 16000;
const hz2mel = (f: number): number => 1127 * Math.log(1 + f / 700);

const hann = Float64Array.from({ length: WINDOW }, (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / WINDOW));
const melMatrix: Float64Array[] = (() => {
  const lo = hz2mel(20), hi = hz2mel(4000);
  const edges = Array.from({ length: MELS + 2 }, (_, i) => lo + ((hi - lo) * i) / (MELS + 1));
  return Array.from({ length: MELS }, (_, j) => {
    const row = new Float64Array(FFT / 2 + 1);
    for (let k = 1; k <= FFT / 2; k++) {
      const m = hz2mel((k * RATE) / FFT);
      row[k] = Math.max(0, Math.min((m - edges[j]!) / (edges[j + 1]! - edges[j]!), (edges[j + 2]! - m) / (edges[j + 2]! - edges[j + 1]!)));
    }
    return row;
  });
})();
// Bins above the last non-zero mel weight contribute nothing; skipping them halves the DFT's cost.
const lastBin = melMatrix.reduce((last, row) => {
  for (let k = row.length - 1; k > last; k--) if (row[k]! > 0) return k;
  return last;
}, 0);
const cosTable = Float64Array.from({ length: FFT }, (_, i) => Math.cos((2 * Math.PI * i) / FFT));
const sinTable = Float64Array.from({ length: FFT }, (_, i) => Math.sin((2 * Math.PI * i) / FFT));

/** 49 × 10 MFCC (frame-major) of 16,000 int16 samples, in float64. */
export function mfccRef(samples: Int16Array): Float64Array {
  let peak = -Infinity;
  for (const v of samples) peak = Math.max(peak, v);
  const silent = peak <= 0; // the device's documented policy: no positive sample = digital silence
  const out = new Float64Array(FRAMES * COEFFS);
  const frame = new Float64Array(WINDOW);
  const mag = new Float64Array(FFT / 2 + 1);
  const logMel = new Float64Array(MELS);
  for (let f = 0; f < FRAMES; f++) {
    for (let n = 0; n < WINDOW; n++) frame[n] = silent ? 0 : (samples[f * STRIDE + n]! / peak) * hann[n]!;
    for (let k = 0; k <= lastBin; k++) {
      let re = 0, im = 0;
      for (let n = 0; n < WINDOW; n++) {
        const idx = (k * n) % FFT;
        re += frame[n]! * cosTable[idx]!;
        im -= frame[n]! * sinTable[idx]!;
      }
      mag[k] = Math.hypot(re, im);
    }
    for (let j = 0; j < MELS; j++) {
      let mel = 0;
      const row = melMatrix[j]!;
      for (let k = 0; k <= lastBin; k++) mel += mag[k]! * row[k]!;
      logMel[j] = Math.log(mel + 1e-6);
    }
    for (let k = 0; k < COEFFS; k++) {
      let acc = 0;
      for (let n = 0; n < MELS; n++) acc += logMel[n]! * 2 * Math.cos((Math.PI * k * (2 * n + 1)) / (2 * MELS));
      out[f * COEFFS + k] = acc / Math.sqrt(2 * MELS);
    }
  }
  return out;
}

/** The same quantization the device applies: round half away from zero, + zero point, clamp. */
export function quantizeRef(values: Float64Array, scale: number, zeroPoint: number): Int8Array {
  const out = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]! / scale;
    const r = Math.sign(v) * Math.round(Math.abs(v));
    out[i] = Math.max(-128, Math.min(127, r + zeroPoint));
  }
  return out;
}
