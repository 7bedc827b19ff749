/**
 * Packed-weight scratch per GEMM/conv call. Kernels pack at least one 8-column panel regardless; the
 * larger the budget, the fewer re-gathers of im2col rows, but on a 256 KB MCU the scratch would
 * otherwise dominate SRAM (the default kernel budget is 128 KiB, tuned for speed).
 */
export const SESSION_PACKED_WEIGHT_BUDGET = 16 * 1024;
