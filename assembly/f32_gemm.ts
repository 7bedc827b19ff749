// The f32 matrix primitives of the backprop reference path, and the one place their summation
// orders are defined. Float addition is not associative, so "bit-identical in every build" means
// the scalar and SIMD paths perform the same IEEE operations in the same order. No fused
// multiply-add anywhere (relaxed_madd may or may not fuse), no reassociation.
//
// Two reductions cover every f32 kernel (docs/KERNELS.md, "f32 backprop kernels"):
//
//  dot   s = laneSum(l0, l1, l2, l3), then + a[k]·b[k] for k = K4..K-1 in order, where
//        lj = Σ a[k]·b[k] over k < K4 = K & ~3 with k ≡ j (mod 4), summed in increasing k from +0.
//        The SIMD path keeps the four partial sums in one f32x4, the scalar path in four locals.
//  axpy  c = init + Σ_t A(r,t)·b[t][j] summed in increasing t, init = +0 or the old c.
//        Lanes are independent output elements, so vectorizing over j changes nothing; the
//        scalar build accumulates in memory, which holds the same f32 values as a register.
//
// Only scalar helpers are exported from here for the other f32 files; v128 helpers are inline
// and used inside `if (ASC_FEATURE_SIMD)` blocks only.

/** The combination order of the four dot-product partial sums. */
// @ts-ignore: decorator
@inline export function laneSum(l0: f32, l1: f32, l2: f32, l3: f32): f32 {
  return (l0 + l1) + (l2 + l3);
}

/** Adds the products k = from..k-1 one by one, after the lanes were combined. */
// @ts-ignore: decorator
@inline function dotTail(s: f32, a: usize, b: usize, from: i32, k: i32): f32 {
  for (let i = from; i < k; i++) {
    const o = <usize>i << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

/** The dot order with four scalar partial sums: the reference every SIMD tile reproduces. */
// @ts-ignore: decorator
@inline function dotScalar(a: usize, b: usize, k: i32): f32 {
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  let i = 0;
  for (; i + 4 <= k; i += 4) {
    const o = <usize>i << 2;
    s0 += load<f32>(a + o) * load<f32>(b + o);
    s1 += load<f32>(a + o, 4) * load<f32>(b + o, 4);
    s2 += load<f32>(a + o, 8) * load<f32>(b + o, 8);
    s3 += load<f32>(a + o, 12) * load<f32>(b + o, 12);
  }
  return dotTail(laneSum(s0, s1, s2, s3), a, b, i, k);
}

/** Finishes a dot product whose four partial sums are the lanes of acc. */
// @ts-ignore: decorator
@inline function finishLanes(acc: v128, a: usize, b: usize, k4: i32, k: i32): f32 {
  const s = laneSum(
    f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1),
    f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3),
  );
  return dotTail(s, a, b, k4, k);
}

/** One dot product with an f32x4 accumulator (edge tiles of the SIMD path). */
// @ts-ignore: decorator
@inline function dotSimd(a: usize, b: usize, k4: i32, k: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < k4; i += 4) {
    const o = <usize>i << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  return finishLanes(acc, a, b, k4, k);
}

/** Bias is added after the whole dot product (bias = 0: no bias). */
// @ts-ignore: decorator
@inline function withBias(s: f32, bias: usize, n: i32): f32 {
  return bias ? s + load<f32>(bias + (<usize>n << 2)) : s;
}

/**
 * c[m][n] = dot(a[m][0..K), b[n][0..K)) (+ bias[n]) for m < M, n < N. Row strides lda, ldb, ldc
 * are in elements. Register tile 2×4 outputs (8 f32x4 partial sums) in the SIMD path.
 */
export function gemmNT(
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, M: i32, N: i32, K: i32,
): void {
  const rowA = <usize>lda << 2;
  const rowB = <usize>ldb << 2;
  const rowC = <usize>ldc << 2;
  let m = 0;
  if (ASC_FEATURE_SIMD) {
    const k4 = K & ~3;
    for (; m + 2 <= M; m += 2) {
      const a0 = a + <usize>m * rowA;
      const a1 = a0 + rowA;
      const y0 = c + <usize>m * rowC;
      const y1 = y0 + rowC;
      let n = 0;
      for (; n + 4 <= N; n += 4) {
        const b0 = b + <usize>n * rowB;
        const b1 = b0 + rowB;
        const b2 = b1 + rowB;
        const b3 = b2 + rowB;
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
        let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
        for (let k = 0; k < k4; k += 4) {
          const o = <usize>k << 2;
          const x0 = v128.load(a0 + o);
          const x1 = v128.load(a1 + o);
          const w0 = v128.load(b0 + o);
          const w1 = v128.load(b1 + o);
          const w2 = v128.load(b2 + o);
          const w3 = v128.load(b3 + o);
          c00 = f32x4.add(c00, f32x4.mul(x0, w0));
          c01 = f32x4.add(c01, f32x4.mul(x0, w1));
          c02 = f32x4.add(c02, f32x4.mul(x0, w2));
          c03 = f32x4.add(c03, f32x4.mul(x0, w3));
          c10 = f32x4.add(c10, f32x4.mul(x1, w0));
          c11 = f32x4.add(c11, f32x4.mul(x1, w1));
          c12 = f32x4.add(c12, f32x4.mul(x1, w2));
          c13 = f32x4.add(c13, f32x4.mul(x1, w3));
        }
        const o = <usize>n << 2;
        store<f32>(y0 + o, withBias(finishLanes(c00, a0, b0, k4, K), bias, n));
        store<f32>(y0 + o, withBias(finishLanes(c01, a0, b1, k4, K), bias, n + 1), 4);
        store<f32>(y0 + o, withBias(finishLanes(c02, a0, b2, k4, K), bias, n + 2), 8);
        store<f32>(y0 + o, withBias(finishLanes(c03, a0, b3, k4, K), bias, n + 3), 12);
        store<f32>(y1 + o, withBias(finishLanes(c10, a1, b0, k4, K), bias, n));
        store<f32>(y1 + o, withBias(finishLanes(c11, a1, b1, k4, K), bias, n + 1), 4);
        store<f32>(y1 + o, withBias(finishLanes(c12, a1, b2, k4, K), bias, n + 2), 8);
        store<f32>(y1 + o, withBias(finishLanes(c13, a1, b3, k4, K), bias, n + 3), 12);
      }
      for (; n < N; n++) {
        const bn = b + <usize>n * rowB;
        const o = <usize>n << 2;
        store<f32>(y0 + o, withBias(dotSimd(a0, bn, k4, K), bias, n));
        store<f32>(y1 + o, withBias(dotSimd(a1, bn, k4, K), bias, n));
      }
    }
    // A single remaining row (batch-1 inference is common): tile 1×4.
    for (; m < M; m++) {
      const a0 = a + <usize>m * rowA;
      const y0 = c + <usize>m * rowC;
      let n = 0;
      for (; n + 4 <= N; n += 4) {
        const b0 = b + <usize>n * rowB;
        const b1 = b0 + rowB;
        const b2 = b1 + rowB;
        const b3 = b2 + rowB;
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        for (let k = 0; k < k4; k += 4) {
          const o = <usize>k << 2;
          const x0 = v128.load(a0 + o);
          c0 = f32x4.add(c0, f32x4.mul(x0, v128.load(b0 + o)));
          c1 = f32x4.add(c1, f32x4.mul(x0, v128.load(b1 + o)));
          c2 = f32x4.add(c2, f32x4.mul(x0, v128.load(b2 + o)));
          c3 = f32x4.add(c3, f32x4.mul(x0, v128.load(b3 + o)));
        }
        const o = <usize>n << 2;
        store<f32>(y0 + o, withBias(finishLanes(c0, a0, b0, k4, K), bias, n));
        store<f32>(y0 + o, withBias(finishLanes(c1, a0, b1, k4, K), bias, n + 1), 4);
        store<f32>(y0 + o, withBias(finishLanes(c2, a0, b2, k4, K), bias, n + 2), 8);
        store<f32>(y0 + o, withBias(finishLanes(c3, a0, b3, k4, K), bias, n + 3), 12);
      }
      for (; n < N; n++) {
        store<f32>(y0 + (<usize>n << 2), withBias(dotSimd(a0, b + <usize>n * rowB, k4, K), bias, n));
      }
    }
  }
  for (; m < M; m++) {
    const a0 = a + <usize>m * rowA;
    const y0 = c + <usize>m * rowC;
    for (let n = 0; n < N; n++) {
      store<f32>(y0 + (<usize>n << 2), withBias(dotScalar(a0, b + <usize>n * rowB, K), bias, n));
    }
  }
}

/**
 * c[r][j] = init + Σ_{t<T} A(r,t)·b[t][j] for r < R, j < J, with A(r,t) = a[r·ars + t·ats]
 * (so one routine serves A and Aᵀ), init = c[r][j] when accumulate, else +0. Strides in
 * elements. c must not overlap a or b. SIMD register tile: 2 rows × 16 columns.
 */
export function gemmAxpy(
  c: usize, ldc: i32, a: usize, ars: i32, ats: i32, b: usize, ldb: i32,
  R: i32, J: i32, T: i32, accumulate: bool,
): void {
  const rowC = <usize>ldc << 2;
  const rowB = <usize>ldb << 2;
  const stepA = <usize>ats << 2;
  const rowA = <usize>ars << 2;
  if (ASC_FEATURE_SIMD) {
    const j4 = J & ~3;
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const a0 = a + <usize>r * rowA;
      const a1 = a0 + rowA;
      const y0 = c + <usize>r * rowC;
      const y1 = y0 + rowC;
      let j = 0;
      for (; j + 16 <= J; j += 16) {
        const o = <usize>j << 2;
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
        let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
        if (accumulate) {
          c00 = v128.load(y0 + o); c01 = v128.load(y0 + o, 16); c02 = v128.load(y0 + o, 32); c03 = v128.load(y0 + o, 48);
          c10 = v128.load(y1 + o); c11 = v128.load(y1 + o, 16); c12 = v128.load(y1 + o, 32); c13 = v128.load(y1 + o, 48);
        }
        let pa = <usize>0;
        let pb = b + o;
        for (let t = 0; t < T; t++) {
          const s0 = f32x4.splat(load<f32>(a0 + pa));
          const s1 = f32x4.splat(load<f32>(a1 + pa));
          const w0 = v128.load(pb);
          const w1 = v128.load(pb, 16);
          const w2 = v128.load(pb, 32);
          const w3 = v128.load(pb, 48);
          c00 = f32x4.add(c00, f32x4.mul(s0, w0));
          c01 = f32x4.add(c01, f32x4.mul(s0, w1));
          c02 = f32x4.add(c02, f32x4.mul(s0, w2));
          c03 = f32x4.add(c03, f32x4.mul(s0, w3));
          c10 = f32x4.add(c10, f32x4.mul(s1, w0));
          c11 = f32x4.add(c11, f32x4.mul(s1, w1));
          c12 = f32x4.add(c12, f32x4.mul(s1, w2));
          c13 = f32x4.add(c13, f32x4.mul(s1, w3));
          pa += stepA;
          pb += rowB;
        }
        v128.store(y0 + o, c00); v128.store(y0 + o, c01, 16); v128.store(y0 + o, c02, 32); v128.store(y0 + o, c03, 48);
        v128.store(y1 + o, c10); v128.store(y1 + o, c11, 16); v128.store(y1 + o, c12, 32); v128.store(y1 + o, c13, 48);
      }
      for (; j < j4; j += 4) {
        const o = <usize>j << 2;
        let c0 = accumulate ? v128.load(y0 + o) : f32x4.splat(0);
        let c1 = accumulate ? v128.load(y1 + o) : f32x4.splat(0);
        let pa = <usize>0;
        let pb = b + o;
        for (let t = 0; t < T; t++) {
          const w = v128.load(pb);
          c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(a0 + pa)), w));
          c1 = f32x4.add(c1, f32x4.mul(f32x4.splat(load<f32>(a1 + pa)), w));
          pa += stepA;
          pb += rowB;
        }
        v128.store(y0 + o, c0);
        v128.store(y1 + o, c1);
      }
      axpyColumns(y0, a0, stepA, b, rowB, j4, J, T, accumulate);
      axpyColumns(y1, a1, stepA, b, rowB, j4, J, T, accumulate);
    }
    for (; r < R; r++) {
      const a0 = a + <usize>r * rowA;
      const y0 = c + <usize>r * rowC;
      let j = 0;
      for (; j + 16 <= J; j += 16) {
        const o = <usize>j << 2;
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        if (accumulate) {
          c0 = v128.load(y0 + o); c1 = v128.load(y0 + o, 16); c2 = v128.load(y0 + o, 32); c3 = v128.load(y0 + o, 48);
        }
        let pa = <usize>0;
        let pb = b + o;
        for (let t = 0; t < T; t++) {
          const s0 = f32x4.splat(load<f32>(a0 + pa));
          c0 = f32x4.add(c0, f32x4.mul(s0, v128.load(pb)));
          c1 = f32x4.add(c1, f32x4.mul(s0, v128.load(pb, 16)));
          c2 = f32x4.add(c2, f32x4.mul(s0, v128.load(pb, 32)));
          c3 = f32x4.add(c3, f32x4.mul(s0, v128.load(pb, 48)));
          pa += stepA;
          pb += rowB;
        }
        v128.store(y0 + o, c0); v128.store(y0 + o, c1, 16); v128.store(y0 + o, c2, 32); v128.store(y0 + o, c3, 48);
      }
      for (; j < j4; j += 4) {
        const o = <usize>j << 2;
        let c0 = accumulate ? v128.load(y0 + o) : f32x4.splat(0);
        let pa = <usize>0;
        let pb = b + o;
        for (let t = 0; t < T; t++) {
          c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(a0 + pa)), v128.load(pb)));
          pa += stepA;
          pb += rowB;
        }
        v128.store(y0 + o, c0);
      }
      axpyColumns(y0, a0, stepA, b, rowB, j4, J, T, accumulate);
    }
    return;
  }
  // Scalar build: same per-element order, accumulated in memory row by row (cache friendly).
  for (let r = 0; r < R; r++) {
    const y0 = c + <usize>r * rowC;
    if (!accumulate) memory.fill(y0, 0, <usize>J << 2);
    let pa = a + <usize>r * rowA;
    let pb = b;
    for (let t = 0; t < T; t++) {
      const s = load<f32>(pa);
      for (let j = 0; j < J; j++) {
        const o = <usize>j << 2;
        store<f32>(y0 + o, load<f32>(y0 + o) + s * load<f32>(pb + o));
      }
      pa += stepA;
      pb += rowB;
    }
  }
}

/** Columns j0..J-1 of one axpy row, one element at a time (t innermost). */
// @ts-ignore: decorator
@inline function axpyColumns(
  y: usize, a: usize, stepA: usize, b: usize, rowB: usize, j0: i32, J: i32, T: i32, accumulate: bool,
): void {
  for (let j = j0; j < J; j++) {
    const o = <usize>j << 2;
    let s: f32 = accumulate ? load<f32>(y + o) : 0;
    let pa = a;
    let pb = b + o;
    for (let t = 0; t < T; t++) {
      s += load<f32>(pa) * load<f32>(pb);
      pa += stepA;
      pb += rowB;
    }
    store<f32>(y + o, s);
  }
}

/** c[n] += Σ_{m<M} a[m][n] in increasing m (bias gradients). */
export function columnSumAcc(c: usize, a: usize, lda: i32, M: i32, N: i32): void {
  const rowA = <usize>lda << 2;
  let n = 0;
  if (ASC_FEATURE_SIMD) {
    for (; n + 4 <= N; n += 4) {
      const o = <usize>n << 2;
      let s = v128.load(c + o);
      let p = a + o;
      for (let m = 0; m < M; m++) {
        s = f32x4.add(s, v128.load(p));
        p += rowA;
      }
      v128.store(c + o, s);
    }
  }
  for (; n < N; n++) {
    const o = <usize>n << 2;
    let s = load<f32>(c + o);
    let p = a + o;
    for (let m = 0; m < M; m++) {
      s += load<f32>(p);
      p += rowA;
    }
    store<f32>(c + o, s);
  }
}

/** dst[i] += src[i] for i < n (element-wise, so lanes need no ordering rule). */
export function addInto(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/** dst[i] += s·src[i] for i < n. */
export function scaledAddInto(dst: usize, src: usize, s: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const sv = f32x4.splat(s);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(sv, v128.load(src + o))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + s * load<f32>(src + o));
  }
}

/** dst[i] += a[i]·b[i] for i < n. */
export function mulAddInto(dst: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(v128.load(a + o), v128.load(b + o))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(a + o) * load<f32>(b + o));
  }
}
