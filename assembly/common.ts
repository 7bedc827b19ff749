// Facts about the compiled module that the host needs.

/** First byte after the module's static data: the host arena starts at or after it. */
export function heap_base(): usize {
  return __heap_base;
}

/** 0 = scalar, 1 = simd, 2 = relaxed-simd: which build this is. */
export function build_flavor(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 2 : ASC_FEATURE_SIMD ? 1 : 0;
}
