// The device: every export is a kernel or a fact about the build. Arguments are byte offsets
// into the host-owned linear memory (the arena) and plain integers; nothing here allocates.
// Exports are listed by name: inline helpers (some SIMD-only) must not become exports, or the
// scalar build would have to compile them.
export { heap_base, build_flavor } from './common';
export { requantize_i32_i8 } from './requant';
export { streamKey as rng_stream_key, rng_fill_z } from './rng';
export { perturb_w16, perturb_w8 } from './perturb';
export { fully_connected_qs8 } from './gemm';
export { conv2d_qs8, conv2d_qs8_prepacked } from './conv';
export { pack_weight_panels_qs8, fully_connected_qs8_prepacked } from './gemm_prepacked';
export { update_w16, update_w8 } from './update';
export { cross_entropy_i8, cross_entropy_i32, exp_negative_q26 } from './loss';
export {
  dense_f32, dense_backward_f32, conv2d_f32, conv2d_backward_f32, depthwise_conv2d_f32, depthwise_conv2d_backward_f32,
  avg_pool2d_f32, avg_pool2d_backward_f32, max_pool2d_f32, max_pool2d_backward_f32,
  global_avg_pool_f32, global_avg_pool_backward_f32, relu_f32, relu_backward_f32, softmax_ce_f32, sgd_f32, adam_f32,
} from './f32';
export { depthwise_conv2d_qs8, depthwise_prepack_qs8, depthwise_conv2d_qs8_prepacked } from './depthwise';
export { max_pool2d_s8, avg_pool2d_s8, global_avg_pool_s8 } from './pool';
export { add_s8 } from './eltwise';
export { softmax_s8 } from './softmax';
export { add_f32 } from './f32_eltwise';
export {
  zo_perturb_w16, zo_perturb_w8, zo_perturb_inplace, zo_restore_inplace, zo_update_w16, zo_update_w8, zo_perturb_bias_i32, zo_perturb_bias_inplace_i32, zo_restore_bias_i32, zo_update_bias_i32, zo_momentum_z, zo_history,
} from './materialised_zo';
export { zo_update_residual_w8 } from './residual';
export { mfcc_kws_s8, mfcc_kws_scratch_bytes } from './mfcc';
export { head_grad_accumulate, head_sgd_update } from './head_grad';
export { tail_grad_accumulate, tail_sgd_update } from './tail_grad';
