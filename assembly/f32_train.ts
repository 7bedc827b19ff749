// f32 activations, loss and optimizer updates of the backprop reference path. All element-wise:
// the SIMD path performs, per lane, exactly the scalar path's IEEE operations.

/** In-place ReLU (six = 0) or ReLU6 (six = 1): f32.max/min, so NaN stays NaN and -0 becomes +0. */
export function relu_f32(x: usize, count: i32, six: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    const cap = f32x4.splat(6);
    for (; i + 4 <= count; i += 4) {
      const p = x + (<usize>i << 2);
      let v = f32x4.max(v128.load(p), zero);
      if (six) v = f32x4.min(v, cap);
      v128.store(p, v);
    }
  }
  for (; i < count; i++) {
    const p = x + (<usize>i << 2);
    let v = max<f32>(load<f32>(p), 0);
    if (six) v = min<f32>(v, 6);
    store<f32>(p, v);
  }
}

/**
 * ReLU/ReLU6 backward from the forward output y: dx = dy where 0 < y (and y < 6 for ReLU6),
 * else +0. dx may be dy (in place).
 */
export function relu_backward_f32(y: usize, dy: usize, dx: usize, count: i32, six: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    const cap = f32x4.splat(6);
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      const yv = v128.load(y + o);
      let mask = f32x4.gt(yv, zero);
      if (six) mask = v128.and(mask, f32x4.lt(yv, cap));
      v128.store(dx + o, v128.and(v128.load(dy + o), mask));
    }
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    const yv = load<f32>(y + o);
    const pass = six ? yv > 0 && yv < 6 : yv > 0;
    // Select on bits: the masked SIMD lane is all-zero bits (+0), and dy passes bit for bit.
    store<u32>(dx + o, pass ? load<u32>(dy + o) : 0);
  }
}

/**
 * Softmax cross-entropy over rows of `classes` logits with int32 labels. Per row, in f64:
 * m = first maximum, S = Σ_j exp(x_j - m) in increasing j, loss = log S - (x_label - m).
 * Returns the sum (mean = 0) or mean (mean = 1) over the batch, summed in row order.
 * dlogits (if not 0) = (exp(x_j - m)/S - [j = label]) (/ batch for the mean), rounded to f32.
 * Math.exp/log are AssemblyScript's software implementations: the same bits in every build.
 */
export function softmax_ce_f32(logits: usize, labels: usize, dlogits: usize, batch: i32, classes: i32, mean: i32): f64 {
  let total: f64 = 0;
  const nb = <f64>batch;
  const rowBytes = <usize>classes << 2;
  for (let i = 0; i < batch; i++) {
    const row = logits + <usize>i * rowBytes;
    let mx = load<f32>(row);
    for (let j = 1; j < classes; j++) {
      const v = load<f32>(row + (<usize>j << 2));
      if (v > mx) mx = v;
    }
    const m = <f64>mx;
    let sum: f64 = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(<f64>load<f32>(row + (<usize>j << 2)) - m);
    const label = load<i32>(labels + (<usize>i << 2));
    total += Math.log(sum) - (<f64>load<f32>(row + (<usize>label << 2)) - m);
    if (dlogits) {
      const drow = dlogits + <usize>i * rowBytes;
      for (let j = 0; j < classes; j++) {
        let g = Math.exp(<f64>load<f32>(row + (<usize>j << 2)) - m) / sum;
        if (j == label) g -= 1;
        if (mean) g /= nb;
        store<f32>(drow + (<usize>j << 2), <f32>g);
      }
    }
  }
  return mean ? total / nb : total;
}

/**
 * SGD in place (PyTorch semantics, dampening 0): d = g (+ wd·w if wd ≠ 0);
 * if momentum ≠ 0: v = momentum·v + d, d = v; w = w - lr·d.
 */
export function sgd_f32(w: usize, g: usize, v: usize, count: i32, lr: f32, momentum: f32, wd: f32): void {
  const useWd = wd != 0;
  const useMom = momentum != 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const lrv = f32x4.splat(lr);
    const mv = f32x4.splat(momentum);
    const wdv = f32x4.splat(wd);
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      const wv = v128.load(w + o);
      let d = v128.load(g + o);
      if (useWd) d = f32x4.add(d, f32x4.mul(wdv, wv));
      if (useMom) {
        d = f32x4.add(f32x4.mul(mv, v128.load(v + o)), d);
        v128.store(v + o, d);
      }
      v128.store(w + o, f32x4.sub(wv, f32x4.mul(lrv, d)));
    }
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    const wv = load<f32>(w + o);
    let d = load<f32>(g + o);
    if (useWd) d = d + wd * wv;
    if (useMom) {
      d = momentum * load<f32>(v + o) + d;
      store<f32>(v + o, d);
    }
    store<f32>(w + o, wv - lr * d);
  }
}

/**
 * Adam in place (PyTorch formulation). Host passes stepSize = lr / (1 - β1^t) and
 * sqrtBc2 = sqrt(1 - β2^t). Per element: g (+ l2·w if l2 ≠ 0); w = decay·w if decay ≠ 1
 * (AdamW); m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g·g; w = w - stepSize·(m / (sqrt(v)/sqrtBc2 + eps)).
 */
export function adam_f32(
  w: usize, g: usize, m: usize, v: usize, count: i32,
  stepSize: f32, beta1: f32, beta2: f32, eps: f32, sqrtBc2: f32, l2: f32, decay: f32,
): void {
  const useL2 = l2 != 0;
  const useDecay = decay != 1;
  const om1: f32 = 1 - beta1;
  const om2: f32 = 1 - beta2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const b1 = f32x4.splat(beta1);
    const b2 = f32x4.splat(beta2);
    const c1 = f32x4.splat(om1);
    const c2 = f32x4.splat(om2);
    const ss = f32x4.splat(stepSize);
    const ev = f32x4.splat(eps);
    const bc = f32x4.splat(sqrtBc2);
    const l2v = f32x4.splat(l2);
    const dv = f32x4.splat(decay);
    for (; i + 4 <= count; i += 4) {
      const o = <usize>i << 2;
      let wv = v128.load(w + o);
      let gv = v128.load(g + o);
      if (useL2) gv = f32x4.add(gv, f32x4.mul(l2v, wv));
      if (useDecay) wv = f32x4.mul(wv, dv);
      const mv = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(c1, gv));
      const vv = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(f32x4.mul(c2, gv), gv));
      v128.store(m + o, mv);
      v128.store(v + o, vv);
      const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc), ev);
      v128.store(w + o, f32x4.sub(wv, f32x4.mul(ss, f32x4.div(mv, denom))));
    }
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    let wv = load<f32>(w + o);
    let gv = load<f32>(g + o);
    if (useL2) gv = gv + l2 * wv;
    if (useDecay) wv = wv * decay;
    const mv = beta1 * load<f32>(m + o) + om1 * gv;
    const vv = beta2 * load<f32>(v + o) + (om2 * gv) * gv;
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    const denom = sqrt<f32>(vv) / sqrtBc2 + eps;
    store<f32>(w + o, wv - stepSize * (mv / denom));
  }
}
