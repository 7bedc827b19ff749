// Microphone and WAV input for the page's keyword mode: whatever the source, the result is the
// library's 1 s, 16 kHz int16 clip (src/audio/wav.ts: the same resampler and clip policy as
// `--data wav:DIR`), which the worker turns into MFCC on the emulated device.
import { parseWav, resample, toClip, TARGET_RATE } from '../../src/audio/wav.js';

/** Recording length: the word may come at any moment in it; the clip policy keeps the loudest second. */
export const RECORD_SECONDS = 3;

/** Samples in [-1, 1] at `rate` → the 1 s clip. */
export function clipFromSamples(samples: Float32Array, rate: number): Int16Array {
  const x = Float64Array.from(samples);
  return toClip(rate === TARGET_RATE ? x : resample(x, rate));
}

export function clipFromWav(bytes: Uint8Array, name: string): Int16Array {
  const audio = parseWav(bytes, name);
  return clipFromSamples(Float32Array.from(audio.samples), audio.rate);
}

/**
 * Records RECORD_SECONDS from the microphone (echo cancellation, noise suppression and gain control
 * off: the model should hear what the device's microphone would). The context asks for 16 kHz, so
 * the browser's own resampler converts the capture; when it cannot, ours does.
 */
export async function recordClip(): Promise<{ clip: Int16Array; rate: number; captured: Float32Array }> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const context = new AudioContext({ sampleRate: TARGET_RATE });
  try {
    const source = context.createMediaStreamSource(stream);
    const processor = context.createScriptProcessor(4096, 1, 1);
    const want = Math.ceil(RECORD_SECONDS * context.sampleRate);
    const captured = new Float32Array(want);
    let filled = 0;
    await new Promise<void>((resolve) => {
      processor.onaudioprocess = (e) => {
        const input = e.inputBuffer.getChannelData(0);
        const n = Math.min(input.length, want - filled);
        captured.set(input.subarray(0, n), filled);
        filled += n;
        if (filled >= want) resolve();
      };
      source.connect(processor);
      processor.connect(context.destination);
    });
    processor.onaudioprocess = null;
    source.disconnect();
    processor.disconnect();
    return { clip: clipFromSamples(captured, context.sampleRate), rate: context.sampleRate, captured };
  } finally {
    for (const t of stream.getTracks()) t.stop();
    await context.close();
  }
}
