// The SGD step both backprop layers of the hybrid share (head_grad.ts, tail_grad.ts): a step of
// round(g·mult / 2^totalShift), half away from zero, subtracted from one stored value and clamped to
// its grid (weights: the symmetric ±(2^(bits−1) − 1); bias: int32).

// @ts-ignore: decorator
@inline export function scaledStep(g: i64, mult: i32, totalShift: i32): i64 {
  const p = g * <i64>mult;
  const half = <i64>1 << (totalShift - 1);
  return p >= 0 ? (p + half) >> totalShift : -((-p + half) >> totalShift);
}

/** params[i] ← clamp(params[i] − step) for an 8-, 16- or 32-bit tensor. */
// @ts-ignore: decorator
@inline export function subtractClamped(params: usize, i: i32, bits: i32, step: i64): void {
  if (bits == 16) {
    const p = params + (<usize>i << 1);
    const v = <i64>load<i16>(p) - step;
    store<i16>(p, <i16>(v > 32767 ? 32767 : v < -32767 ? -32767 : v));
  } else if (bits == 8) {
    const p = params + <usize>i;
    const v = <i64>load<i8>(p) - step;
    store<i8>(p, <i8>(v > 127 ? 127 : v < -127 ? -127 : v));
  } else {
    const p = params + (<usize>i << 2);
    const v = <i64>load<i32>(p) - step;
    store<i32>(p, <i32>(v > <i64>i32.MAX_VALUE ? <i64>i32.MAX_VALUE : v < <i64>i32.MIN_VALUE ? <i64>i32.MIN_VALUE : v));
  }
}
