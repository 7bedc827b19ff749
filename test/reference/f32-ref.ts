// Plain float64 references for the f32 backprop kernels, written as textbook loops (one output
// element at a time, gather form for Conv2D's input gradient) with no im2col, lane-split sums
// or panels, so they share no structure with the device. Inputs are any numeric arrays;
// outputs are Float64Array.
//
// Every linear kernel here is linear in each of its inputs, so calling it on |inputs| yields
// Σ|terms| per output: the scale the f32 rounding error is measured against.

type Num = ArrayLike<number>;

export type Padding = 'same' | 'valid';

/** TFLite's ComputePaddingHeightWidth / ComputeOutSize, as integer arithmetic. */
export function geometryRef(inSize: number, k: number, stride: number, padding: Padding): { out: number; pad: number } {
  const out = padding === 'same' ? Math.trunc((inSize + stride - 1) / stride) : Math.trunc((inSize - k + stride) / stride);
  const pad = Math.max(0, Math.trunc(((out - 1) * stride + k - inSize) / 2));
  return { out, pad: padding === 'same' ? pad : 0 };
}

export interface ConvShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: Padding;
}

function geom(s: ConvShape) {
  const h = geometryRef(s.inHeight, s.kernelHeight, s.strideHeight, s.padding);
  const w = geometryRef(s.inWidth, s.kernelWidth, s.strideWidth, s.padding);
  return { outH: h.out, padT: h.pad, outW: w.out, padL: w.pad };
}

export const abs = (a: Num): Float64Array => Float64Array.from(a, Math.abs);

// ---------------------------------------------------------------- dense

export function denseRef(x: Num, w: Num, b: Num | null, M: number, K: number, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b ? b[n]! : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
      y[m * N + n] = s;
    }
  }
  return y;
}

/** Pure gradients (no accumulation): dx = dy·w, dw = dyᵀ·x, db = Σ dy. */
export function denseBackwardRef(x: Num, w: Num, dy: Num, M: number, K: number, N: number) {
  const dx = new Float64Array(M * K);
  const dw = new Float64Array(N * K);
  const db = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[m * N + n]! * w[n * K + k]!;
      dx[m * K + k] = s;
    }
  }
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dy[m * N + n]! * x[m * K + k]!;
      dw[n * K + k] = s;
    }
    let s = 0;
    for (let m = 0; m < M; m++) s += dy[m * N + n]!;
    db[n] = s;
  }
  return { dx, dw, db };
}

// ---------------------------------------------------------------- conv / depthwise
// One general grouped-by-channel loop serves Conv2D (every output channel reads every input
// channel) and depthwise (output channel oc reads input channel floor(oc / mult)).

export function conv2dRef(x: Num, w: Num, b: Num | null, s: ConvShape, outChannels: number): Float64Array {
  const { outH, padT, outW, padL } = geom(s);
  const C = s.inChannels;
  const y = new Float64Array(s.batch * outH * outW * outChannels);
  for (let n = 0; n < s.batch; n++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++)
        for (let o = 0; o < outChannels; o++) {
          let acc = b ? b[o]! : 0;
          for (let ky = 0; ky < s.kernelHeight; ky++) {
            const iy = oy * s.strideHeight - padT + ky;
            if (iy < 0 || iy >= s.inHeight) continue;
            for (let kx = 0; kx < s.kernelWidth; kx++) {
              const ix = ox * s.strideWidth - padL + kx;
              if (ix < 0 || ix >= s.inWidth) continue;
              for (let c = 0; c < C; c++) {
                acc += x[((n * s.inHeight + iy) * s.inWidth + ix) * C + c]! * w[((o * s.kernelHeight + ky) * s.kernelWidth + kx) * C + c]!;
              }
            }
          }
          y[((n * outH + oy) * outW + ox) * outChannels + o] = acc;
        }
  return y;
}

/** dx (gather form: for each input element, the outputs it reached), dw, db. */
export function conv2dBackwardRef(x: Num, w: Num, dy: Num, s: ConvShape, outChannels: number) {
  const { outH, padT, outW, padL } = geom(s);
  const C = s.inChannels;
  const O = outChannels;
  const dx = new Float64Array(s.batch * s.inHeight * s.inWidth * C);
  const dw = new Float64Array(O * s.kernelHeight * s.kernelWidth * C);
  const db = new Float64Array(O);
  for (let n = 0; n < s.batch; n++)
    for (let iy = 0; iy < s.inHeight; iy++)
      for (let ix = 0; ix < s.inWidth; ix++)
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let ky = 0; ky < s.kernelHeight; ky++) {
            const ty = iy + padT - ky;
            if (ty < 0 || ty % s.strideHeight !== 0 || ty / s.strideHeight >= outH) continue;
            for (let kx = 0; kx < s.kernelWidth; kx++) {
              const tx = ix + padL - kx;
              if (tx < 0 || tx % s.strideWidth !== 0 || tx / s.strideWidth >= outW) continue;
              const p = (n * outH + ty / s.strideHeight) * outW + tx / s.strideWidth;
              for (let o = 0; o < O; o++) acc += dy[p * O + o]! * w[((o * s.kernelHeight + ky) * s.kernelWidth + kx) * C + c]!;
            }
          }
          dx[((n * s.inHeight + iy) * s.inWidth + ix) * C + c] = acc;
        }
  for (let o = 0; o < O; o++) {
    for (let ky = 0; ky < s.kernelHeight; ky++)
      for (let kx = 0; kx < s.kernelWidth; kx++)
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let n = 0; n < s.batch; n++)
            for (let oy = 0; oy < outH; oy++) {
              const iy = oy * s.strideHeight - padT + ky;
              if (iy < 0 || iy >= s.inHeight) continue;
              for (let ox = 0; ox < outW; ox++) {
                const ix = ox * s.strideWidth - padL + kx;
                if (ix < 0 || ix >= s.inWidth) continue;
                acc += dy[((n * outH + oy) * outW + ox) * O + o]! * x[((n * s.inHeight + iy) * s.inWidth + ix) * C + c]!;
              }
            }
          dw[((o * s.kernelHeight + ky) * s.kernelWidth + kx) * C + c] = acc;
        }
    let acc = 0;
    for (let p = 0; p < s.batch * outH * outW; p++) acc += dy[p * O + o]!;
    db[o] = acc;
  }
  return { dx, dw, db };
}

export function depthwiseRef(x: Num, w: Num, b: Num | null, s: ConvShape, mult: number): Float64Array {
  const { outH, padT, outW, padL } = geom(s);
  const C = s.inChannels;
  const OC = C * mult;
  const y = new Float64Array(s.batch * outH * outW * OC);
  for (let n = 0; n < s.batch; n++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++)
        for (let oc = 0; oc < OC; oc++) {
          const c = Math.floor(oc / mult);
          let acc = b ? b[oc]! : 0;
          for (let ky = 0; ky < s.kernelHeight; ky++)
            for (let kx = 0; kx < s.kernelWidth; kx++) {
              const iy = oy * s.strideHeight - padT + ky;
              const ix = ox * s.strideWidth - padL + kx;
              if (iy < 0 || iy >= s.inHeight || ix < 0 || ix >= s.inWidth) continue;
              acc += x[((n * s.inHeight + iy) * s.inWidth + ix) * C + c]! * w[(ky * s.kernelWidth + kx) * OC + oc]!;
            }
          y[((n * outH + oy) * outW + ox) * OC + oc] = acc;
        }
  return y;
}

export function depthwiseBackwardRef(x: Num, w: Num, dy: Num, s: ConvShape, mult: number) {
  const { outH, padT, outW, padL } = geom(s);
  const C = s.inChannels;
  const OC = C * mult;
  const dx = new Float64Array(s.batch * s.inHeight * s.inWidth * C);
  const dw = new Float64Array(s.kernelHeight * s.kernelWidth * OC);
  const db = new Float64Array(OC);
  for (let n = 0; n < s.batch; n++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const p = (n * outH + oy) * outW + ox;
        for (let oc = 0; oc < OC; oc++) {
          const c = Math.floor(oc / mult);
          const g = dy[p * OC + oc]!;
          db[oc] = db[oc]! + g;
          for (let ky = 0; ky < s.kernelHeight; ky++)
            for (let kx = 0; kx < s.kernelWidth; kx++) {
              const iy = oy * s.strideHeight - padT + ky;
              const ix = ox * s.strideWidth - padL + kx;
              if (iy < 0 || iy >= s.inHeight || ix < 0 || ix >= s.inWidth) continue;
              const xi = ((n * s.inHeight + iy) * s.inWidth + ix) * C + c;
              const wi = (ky * s.kernelWidth + kx) * OC + oc;
              dx[xi] = dx[xi]! + g * w[wi]!;
              dw[wi] = dw[wi]! + g * x[xi]!;
            }
        }
      }
  return { dx, dw, db };
}

// ---------------------------------------------------------------- pooling

export interface PoolShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: Padding;
}

/** Calls visit(outIndex, inIndices) with each window's valid input indices in (ky, kx) order. */
function windows(s: PoolShape, visit: (o: number, taps: number[]) => void): number {
  const h = geometryRef(s.inHeight, s.filterHeight, s.strideHeight, s.padding);
  const w = geometryRef(s.inWidth, s.filterWidth, s.strideWidth, s.padding);
  for (let n = 0; n < s.batch; n++)
    for (let oy = 0; oy < h.out; oy++)
      for (let ox = 0; ox < w.out; ox++)
        for (let c = 0; c < s.channels; c++) {
          const taps: number[] = [];
          for (let ky = 0; ky < s.filterHeight; ky++)
            for (let kx = 0; kx < s.filterWidth; kx++) {
              const iy = oy * s.strideHeight - h.pad + ky;
              const ix = ox * s.strideWidth - w.pad + kx;
              if (iy >= 0 && iy < s.inHeight && ix >= 0 && ix < s.inWidth) taps.push(((n * s.inHeight + iy) * s.inWidth + ix) * s.channels + c);
            }
          visit(((n * h.out + oy) * w.out + ox) * s.channels + c, taps);
        }
  return s.batch * h.out * w.out * s.channels;
}

const inCount = (s: PoolShape) => s.batch * s.inHeight * s.inWidth * s.channels;

export function avgPoolRef(x: Num, s: PoolShape): Float64Array {
  const out: number[] = [];
  windows(s, (o, taps) => (out[o] = taps.reduce((a, i) => a + x[i]!, 0) / taps.length));
  return Float64Array.from(out);
}

export function avgPoolBackwardRef(dy: Num, s: PoolShape): Float64Array {
  const dx = new Float64Array(inCount(s));
  windows(s, (o, taps) => taps.forEach((i) => (dx[i] = dx[i]! + dy[o]! / taps.length)));
  return dx;
}

/** Index (into x) of each window's first maximum. */
export function maxPoolArgRef(x: Num, s: PoolShape): number[] {
  const arg: number[] = [];
  windows(s, (o, taps) => {
    let best = taps[0]!;
    for (const i of taps) if (x[i]! > x[best]!) best = i;
    arg[o] = best;
  });
  return arg;
}

export function maxPoolRef(x: Num, s: PoolShape): Float64Array {
  return Float64Array.from(maxPoolArgRef(x, s), (i) => x[i]!);
}

export function maxPoolBackwardRef(x: Num, dy: Num, s: PoolShape): Float64Array {
  const dx = new Float64Array(inCount(s));
  maxPoolArgRef(x, s).forEach((i, o) => (dx[i] = dx[i]! + dy[o]!));
  return dx;
}

export function globalAvgPoolRef(x: Num, batch: number, pixels: number, C: number): Float64Array {
  const y = new Float64Array(batch * C);
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = 0; i < pixels; i++) s += x[(n * pixels + i) * C + c]!;
      y[n * C + c] = s / pixels;
    }
  return y;
}

export function globalAvgPoolBackwardRef(dy: Num, batch: number, pixels: number, C: number): Float64Array {
  const dx = new Float64Array(batch * pixels * C);
  for (let n = 0; n < batch; n++) for (let i = 0; i < pixels; i++) for (let c = 0; c < C; c++) dx[(n * pixels + i) * C + c] = dy[n * C + c]! / pixels;
  return dx;
}

// ---------------------------------------------------------------- activations, loss, optimizers

export const reluRef = (x: Num, six: boolean): Float64Array => Float64Array.from(x, (v) => (six ? Math.min(Math.max(v, 0), 6) : Math.max(v, 0)));

export const reluBackwardRef = (y: Num, dy: Num, six: boolean): Float64Array =>
  Float64Array.from(dy, (g, i) => (y[i]! > 0 && (!six || y[i]! < 6) ? g : 0));

/** Loss and dLoss/dLogits, log-sum-exp with max subtraction, all in float64. */
export function softmaxCeRef(logits: Num, labels: Num, batch: number, classes: number, mean: boolean) {
  const grad = new Float64Array(batch * classes);
  let loss = 0;
  for (let i = 0; i < batch; i++) {
    const row = Array.from({ length: classes }, (_, j) => logits[i * classes + j]!);
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const z = e.reduce((a, b) => a + b, 0);
    const label = labels[i]!;
    loss += Math.log(z) - (row[label]! - mx);
    for (let j = 0; j < classes; j++) grad[i * classes + j] = (e[j]! / z - (j === label ? 1 : 0)) / (mean ? batch : 1);
  }
  return { loss: mean ? loss / batch : loss, grad };
}

export function sgdRef(w: Num, g: Num, v: Num | null, lr: number, momentum: number, wd: number) {
  const wOut = new Float64Array(w.length);
  const vOut = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) {
    let d = g[i]! + wd * w[i]!;
    if (momentum !== 0) {
      d = momentum * v![i]! + d;
      vOut[i] = d;
    }
    wOut[i] = w[i]! - lr * d;
  }
  return { w: wOut, v: vOut };
}

/** torch.optim.Adam / AdamW step `step` (1-based) from state (m, v). */
export function adamRef(
  w: Num, g: Num, m: Num, v: Num,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; step: number },
) {
  const W = new Float64Array(w.length);
  const Mo = new Float64Array(w.length);
  const Vo = new Float64Array(w.length);
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < w.length; i++) {
    let wi = w[i]!;
    let gi = g[i]!;
    if (o.decoupled) wi *= 1 - o.lr * o.weightDecay;
    else gi += o.weightDecay * wi;
    Mo[i] = o.beta1 * m[i]! + (1 - o.beta1) * gi;
    Vo[i] = o.beta2 * v[i]! + (1 - o.beta2) * gi * gi;
    W[i] = wi - (o.lr * Mo[i]!) / bc1 / (Math.sqrt(Vo[i]! / bc2) + o.eps);
  }
  return { w: W, m: Mo, v: Vo };
}
