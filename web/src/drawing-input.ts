// A drawing on the pad → a 28×28 model input, the way MNIST was made: the ink's bounding box is
// scaled so its longer side is 20 px (area-averaged), then placed so its centre of mass sits at the
// centre of the 28×28 frame. Without this, a symbol drawn small or off-centre looks nothing like the
// digits the backbone learned from.

const FRAME = 28;
const BOX = 20;
const INK_THRESHOLD = 0.05;

/** `ink`: width×height coverage in [0, 1] (e.g. canvas alpha / 255). Returns null for an empty drawing. */
export function drawingToInput(ink: Float32Array, width: number, height: number): Float32Array | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! <= INK_THRESHOLD) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0) return null;
  const boxW = x1 - x0 + 1;
  const boxH = y1 - y0 + 1;
  const scale = BOX / Math.max(boxW, boxH);
  const outW = Math.max(1, Math.round(boxW * scale));
  const outH = Math.max(1, Math.round(boxH * scale));
  // Area average: each output pixel covers a (1/scale)² patch of the source, summed with fractional edges.
  const small = new Float32Array(outW * outH);
  const span = 1 / scale;
  for (let oy = 0; oy < outH; oy++) {
    const sy0 = y0 + oy * span;
    const sy1 = Math.min(y0 + boxH, sy0 + span);
    for (let ox = 0; ox < outW; ox++) {
      const sx0 = x0 + ox * span;
      const sx1 = Math.min(x0 + boxW, sx0 + span);
      let sum = 0;
      let area = 0;
      for (let sy = Math.floor(sy0); sy < Math.ceil(sy1); sy++) {
        const wy = Math.min(sy + 1, sy1) - Math.max(sy, sy0);
        for (let sx = Math.floor(sx0); sx < Math.ceil(sx1); sx++) {
          const wx = Math.min(sx + 1, sx1) - Math.max(sx, sx0);
          sum += wx * wy * ink[sy * width + sx]!;
          area += wx * wy;
        }
      }
      small[oy * outW + ox] = area > 0 ? sum / area : 0;
    }
  }
  // Thin strokes average down to grey; MNIST strokes are saturated, so stretch the peak to 1.
  let peak = 0;
  for (const v of small) peak = Math.max(peak, v);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const v = small[y * outW + x]! / peak;
      small[y * outW + x] = v;
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  const clampOffset = (o: number, size: number) => Math.max(0, Math.min(FRAME - size, o));
  const left = clampOffset(Math.round(FRAME / 2 - cx / mass), outW);
  const top = clampOffset(Math.round(FRAME / 2 - cy / mass), outH);
  const out = new Float32Array(FRAME * FRAME);
  for (let y = 0; y < outH; y++) out.set(small.subarray(y * outW, (y + 1) * outW), (top + y) * FRAME + left);
  return out;
}
