// The device: every export is a kernel or a fact about the build. Arguments are byte offsets
// into the host-owned linear memory (the arena) and plain integers; nothing here allocates.
// Exports are listed by name: inline helpers (some SIMD-only) must not become exports, or the
// scalar build would have to compile them.
export { heap_base, build_flavor } from './common';
export { requantize_i32_i8 } from './requant';
export { streamKey as rng_stream_key, rng_fill_z } from './rng';
export { perturb_w16, perturb_w8 } from './perturb';
