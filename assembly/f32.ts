// f32 kernels of the backprop reference path: backprop runs in the same arena as QZO-FF so its
// peak memory is measured, not estimated. Dense layers live here; the other layers in
// f32_conv.ts, f32_pool.ts, f32_train.ts, and the shared summation orders in f32_gemm.ts.
// Weights are stored [N][K] like the integer kernels. Any optional buffer is passed as 0.
import { gemmNT, gemmAxpy, columnSumAcc } from './f32_gemm';

export { conv2d_f32, conv2d_backward_f32, depthwise_conv2d_f32, depthwise_conv2d_backward_f32 } from './f32_conv';
export {
  avg_pool2d_f32, avg_pool2d_backward_f32, max_pool2d_f32, max_pool2d_backward_f32,
  global_avg_pool_f32, global_avg_pool_backward_f32,
} from './f32_pool';
export { relu_f32, relu_backward_f32, softmax_ce_f32, sgd_f32, adam_f32 } from './f32_train';

/** y[M][N] = x[M][K]·w[N][K]ᵀ + b (b = 0: no bias). */
export function dense_f32(x: usize, w: usize, b: usize, y: usize, M: i32, K: i32, N: i32): void {
  gemmNT(x, K, w, K, y, N, b, M, N, K);
}

/** dx = dy·w (overwritten), dw += dyᵀ·x, db += Σ_m dy[m]; any output may be 0 (skipped). */
export function dense_backward_f32(
  x: usize, w: usize, dy: usize, dx: usize, dw: usize, db: usize, M: i32, K: i32, N: i32,
): void {
  if (dx) gemmAxpy(dx, K, dy, N, 1, w, K, M, K, N, false);
  if (dw) gemmAxpy(dw, K, dy, 1, N, x, K, N, K, M, true);
  if (db) columnSumAcc(db, dy, N, M, N);
}
