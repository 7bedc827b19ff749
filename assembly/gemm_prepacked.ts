// Weights packed once, used by many calls. A frozen layer's weights never change, so its panels
// (int16 pairs with the packed bias, −zin·Σw folded in, and the requant constants in the header:
// assembly/gemm.ts) can be packed when the session is prepared — into flash on an MCU, next to
// the weights — instead of on every call. Trained layers keep packing per call with the
// perturbation fused. The packed bytes are exactly what the per-call path would have packed, so
// results are identical.
import { GEMM_NR, packWeightPanels, gemmRowsAcrossPanels } from './gemm';

/**
 * Packs all panels of weights [N][K] into dst (ceil(N/8) panels of panelBytes(kPairs)). zin,
 * bias and the requant constants are baked into each panel header; hasRequant = 0 for a layer
 * whose output stays int32.
 */
export function pack_weight_panels_qs8(
  weights: usize, weightBits: i32, K: i32, N: i32, dst: usize,
  bias: usize, zin: i32, multPtr: usize, shiftPtr: usize, hasRequant: i32, perChannel: i32,
): void {
  const total = (N + GEMM_NR - 1) / GEMM_NR;
  packWeightPanels(weights, weightBits, K, N, 0, total, dst, bias, zin, multPtr, shiftPtr, hasRequant, perChannel, 0, 0, 0, 0, 0, 0, 0, 0, GEMM_NR);
}

/**
 * Fully connected on pre-packed panels: output[M][N] as int8 (or int32 when outInt32). Scratch
 * holds one activation tile. Same results as fully_connected_qs8 on the weights that were packed.
 * bias: 0 when the bias was packed into the panels; else the int32 bias [N] (in SRAM) of panels
 * packed with a null bias, added to the accumulators (a bias-trained layer on flash panels).
 */
export function fully_connected_qs8_prepacked(
  input: usize, panels: usize, output: usize, scratch: usize, M: i32, K: i32, N: i32,
  outInt32: i32, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize,
): void {
  gemmRowsAcrossPanels(input, panels, scratch, M, K, N, 0, (N + GEMM_NR - 1) / GEMM_NR, output, <usize>N << (outInt32 ? 2 : 0), outInt32, perChannel, outZp, actMin, actMax, bias, GEMM_NR);
}

