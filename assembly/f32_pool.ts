// f32 pooling over NHWC, forward and backward. Windows skip padding (TFLite semantics: the
// average divides by the number of valid taps; the max ignores padded positions). Every value is
// per channel, so the SIMD path vectorizes over channels with the scalar path's exact order:
// taps in (ky, kx) order, sums from +0, one IEEE division by the tap count.
//
// Input offsets use wrapping usize arithmetic from a window origin that may lie in the padding
// (negative row/column); adding a valid tap's offset lands back inside the input.

/** Average pool: y = (Σ valid taps) / count. */
export function avg_pool2d_f32(
  x: usize, y: usize, batch: i32, inH: i32, inW: i32, C: i32, fH: i32, fW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const pix = <usize>C << 2;
  const xRow = <usize>inW * pix;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      const ky0 = max(0, -iy0);
      const ky1 = min(fH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        const kx0 = max(0, -ix0);
        const kx1 = min(fW, inW - ix0);
        const count = <f32>((ky1 - ky0) * (kx1 - kx0));
        const base = x + ((<usize>n * <usize>inH + <usize>iy0) * <usize>inW + <usize>ix0) * pix;
        const yp = y + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW + <usize>ox) * pix;
        let c = 0;
        if (ASC_FEATURE_SIMD) {
          const cv = f32x4.splat(count);
          for (; c + 4 <= C; c += 4) {
            const o = <usize>c << 2;
            let acc = f32x4.splat(0);
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                acc = f32x4.add(acc, v128.load(base + <usize>ky * xRow + <usize>kx * pix + o));
              }
            }
            v128.store(yp + o, f32x4.div(acc, cv));
          }
        }
        for (; c < C; c++) {
          const o = <usize>c << 2;
          let acc: f32 = 0;
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) acc += load<f32>(base + <usize>ky * xRow + <usize>kx * pix + o);
          }
          store<f32>(yp + o, acc / count);
        }
      }
    }
  }
}

/** Average pool backward: dx = 0, then dx[tap] += dy / count per output pixel, in order. */
export function avg_pool2d_backward_f32(
  dy: usize, dx: usize, batch: i32, inH: i32, inW: i32, C: i32, fH: i32, fW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const pix = <usize>C << 2;
  const xRow = <usize>inW * pix;
  memory.fill(dx, 0, <usize>batch * <usize>inH * xRow);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      const ky0 = max(0, -iy0);
      const ky1 = min(fH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        const kx0 = max(0, -ix0);
        const kx1 = min(fW, inW - ix0);
        const count = <f32>((ky1 - ky0) * (kx1 - kx0));
        const base = dx + ((<usize>n * <usize>inH + <usize>iy0) * <usize>inW + <usize>ix0) * pix;
        const dyp = dy + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW + <usize>ox) * pix;
        let c = 0;
        if (ASC_FEATURE_SIMD) {
          const cv = f32x4.splat(count);
          for (; c + 4 <= C; c += 4) {
            const o = <usize>c << 2;
            const g = f32x4.div(v128.load(dyp + o), cv);
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const p = base + <usize>ky * xRow + <usize>kx * pix + o;
                v128.store(p, f32x4.add(v128.load(p), g));
              }
            }
          }
        }
        for (; c < C; c++) {
          const o = <usize>c << 2;
          const g = load<f32>(dyp + o) / count;
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const p = base + <usize>ky * xRow + <usize>kx * pix + o;
              store<f32>(p, load<f32>(p) + g);
            }
          }
        }
      }
    }
  }
}

/**
 * Max pool: the first valid tap, replaced only by a strictly greater one (so ties keep the
 * first, and -0/+0 compare equal). Compare-and-select, not f32.max, whose ±0 and NaN rules
 * differ from "first maximum".
 */
export function max_pool2d_f32(
  x: usize, y: usize, batch: i32, inH: i32, inW: i32, C: i32, fH: i32, fW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const pix = <usize>C << 2;
  const xRow = <usize>inW * pix;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      const ky0 = max(0, -iy0);
      const ky1 = min(fH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        const kx0 = max(0, -ix0);
        const kx1 = min(fW, inW - ix0);
        const base = x + ((<usize>n * <usize>inH + <usize>iy0) * <usize>inW + <usize>ix0) * pix;
        const first = base + <usize>ky0 * xRow + <usize>kx0 * pix;
        const yp = y + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW + <usize>ox) * pix;
        let c = 0;
        if (ASC_FEATURE_SIMD) {
          for (; c + 4 <= C; c += 4) {
            const o = <usize>c << 2;
            let best = v128.load(first + o);
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const v = v128.load(base + <usize>ky * xRow + <usize>kx * pix + o);
                best = v128.bitselect(v, best, f32x4.gt(v, best));
              }
            }
            v128.store(yp + o, best);
          }
        }
        for (; c < C; c++) {
          const o = <usize>c << 2;
          let best = load<f32>(first + o);
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const v = load<f32>(base + <usize>ky * xRow + <usize>kx * pix + o);
              if (v > best) best = v;
            }
          }
          store<f32>(yp + o, best);
        }
      }
    }
  }
}

/**
 * Max pool backward: dx = 0, then each dy goes to its window's first arg-max (recomputed from
 * x with the forward's rule), output pixels in order. Scalar in every build: the scatter
 * addresses differ per channel.
 */
export function max_pool2d_backward_f32(
  x: usize, dy: usize, dx: usize, batch: i32, inH: i32, inW: i32, C: i32, fH: i32, fW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const pix = <usize>C << 2;
  const xRow = <usize>inW * pix;
  memory.fill(dx, 0, <usize>batch * <usize>inH * xRow);
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      const ky0 = max(0, -iy0);
      const ky1 = min(fH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        const kx0 = max(0, -ix0);
        const kx1 = min(fW, inW - ix0);
        const winOff = ((<usize>n * <usize>inH + <usize>iy0) * <usize>inW + <usize>ix0) * pix;
        const dyp = dy + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW + <usize>ox) * pix;
        for (let c = 0; c < C; c++) {
          const o = <usize>c << 2;
          let bestOff = winOff + <usize>ky0 * xRow + <usize>kx0 * pix + o;
          let best = load<f32>(x + bestOff);
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const off = winOff + <usize>ky * xRow + <usize>kx * pix + o;
              const v = load<f32>(x + off);
              if (v > best) {
                best = v;
                bestOff = off;
              }
            }
          }
          store<f32>(dx + bestOff, load<f32>(dx + bestOff) + load<f32>(dyp + o));
        }
      }
    }
  }
}

/** Global average pool: y[n][c] = (Σ_i x[n][i][c] in increasing i) / pixels. */
export function global_avg_pool_f32(x: usize, y: usize, batch: i32, pixels: i32, C: i32): void {
  const pix = <usize>C << 2;
  const count = <f32>pixels;
  for (let n = 0; n < batch; n++) {
    const xn = x + <usize>n * <usize>pixels * pix;
    const yn = y + <usize>n * pix;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const cv = f32x4.splat(count);
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        let acc = f32x4.splat(0);
        let p = xn + o;
        for (let i = 0; i < pixels; i++) {
          acc = f32x4.add(acc, v128.load(p));
          p += pix;
        }
        v128.store(yn + o, f32x4.div(acc, cv));
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      let acc: f32 = 0;
      let p = xn + o;
      for (let i = 0; i < pixels; i++) {
        acc += load<f32>(p);
        p += pix;
      }
      store<f32>(yn + o, acc / count);
    }
  }
}

/** Global average pool backward: dx[n][i][c] = dy[n][c] / pixels. */
export function global_avg_pool_backward_f32(dy: usize, dx: usize, batch: i32, pixels: i32, C: i32): void {
  const pix = <usize>C << 2;
  const count = <f32>pixels;
  for (let n = 0; n < batch; n++) {
    const dyn = dy + <usize>n * pix;
    const dxn = dx + <usize>n * <usize>pixels * pix;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const cv = f32x4.splat(count);
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        const g = f32x4.div(v128.load(dyn + o), cv);
        let p = dxn + o;
        for (let i = 0; i < pixels; i++) {
          v128.store(p, g);
          p += pix;
        }
      }
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      const g = load<f32>(dyn + o) / count;
      let p = dxn + o;
      for (let i = 0; i < pixels; i++) {
        store<f32>(p, g);
        p += pix;
      }
    }
  }
}
