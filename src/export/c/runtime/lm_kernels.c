/* Portable C99 integer kernels; see lm_kernels.h. Each mirrors the scalar path of the device's
 * kernel in assembly/ (named in the comments), which every build of the emulator matches bit for bit. */
#include "lm_kernels.h"

#include <stddef.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(LM_PORTABLE_ONLY)
#include <arm_acle.h>
#define LM_USE_DSP 1
#else
#define LM_USE_DSP 0
#endif

/* ---- wrapping and shifting without undefined or implementation-defined behaviour ---- */

static int32_t u2i(uint32_t v) {
  return v <= 0x7fffffffu ? (int32_t)v : (int32_t)(v - 0x80000000u) - 0x7fffffff - 1;
}
static int32_t asr32(int32_t x, int32_t n) {
  return x >= 0 ? x >> n : -1 - ((-1 - x) >> n);
}
static int64_t asr64(int64_t x, int32_t n) {
  return x >= 0 ? x >> n : -1 - ((-1 - x) >> n);
}
static int32_t wadd(int32_t a, int32_t b) {
  return u2i((uint32_t)a + (uint32_t)b);
}
static int32_t clamp32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

/* ---- requantization (assembly/requant.ts) ---- */

static int32_t srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  return (int32_t)asr64((int64_t)a * (int64_t)b + ((int64_t)1 << 30), 31);
}

static int32_t rdbpot(int32_t x, int32_t e) {
  const int32_t mask = (int32_t)((1u << e) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return asr32(x, e) + (remainder > threshold ? 1 : 0);
}

/* Inlined into every kernel's output loop: a call per output costs a third of a 3×3 stem's time. */
static inline int32_t requant(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm(u2i((uint32_t)x << left), multiplier), right);
}

int32_t lm_requant_scalar(int32_t x, int32_t multiplier, int32_t shift) {
  return requant(x, multiplier, shift);
}

static int8_t requant_out(uint32_t acc, const lm_requant *rq, int32_t channel) {
  const int32_t c = rq->per_channel ? channel : 0;
  const int32_t y = requant(u2i(acc), rq->mult[c], rq->shift[c]) + rq->out_zp;
  return (int8_t)clamp32(y, rq->act_min, rq->act_max);
}

/* ---- counter-based z stream (assembly/rng.ts) ---- */

uint32_t lm_hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

uint32_t lm_stream_key(uint32_t seed, uint32_t tensor_id) {
  return lm_hash32(lm_hash32(seed ^ 0x5bd1e995u) ^ (tensor_id * 0x9e3779b9u + 0x7f4a7c15u));
}

uint32_t lm_direction_seed(uint32_t run_seed, uint32_t step, uint32_t direction) {
  uint32_t x = run_seed ^ ((step + 1u) * 0x9e3779b1u) ^ ((direction + 1u) * 0x85ebca77u);
  return lm_hash32(x);
}

/* Half-normal thresholds on a 31-bit uniform (z_max = 3.5, 127 levels): magnitude = #{k : u31 >= T[k]}. */
static const uint32_t GAUSS_THRESHOLDS[127] = {
  0x1684166u, 0x4387e2cu, 0x707e905u, 0x9d5f687u, 0xca21c12u, 0xf6bd022u,
  0x12328a9du, 0x14f5c524u, 0x17b4fb5bu, 0x1a6fab34u, 0x1d25553au, 0x1fd57cd4u,
  0x227fa888u, 0x2523623cu, 0x27c03771u, 0x2a55b97du, 0x2ce37dc3u, 0x2f691de2u,
  0x31e637e4u, 0x345a6e6au, 0x36c568cfu, 0x3926d34du, 0x3b7e5f1au, 0x3dcbc27fu,
  0x400eb8f0u, 0x4247031du, 0x447466f9u, 0x4696afcbu, 0x48adae29u, 0x4ab937ffu,
  0x4cb92885u, 0x4ead603au, 0x5095c4d6u, 0x5272413cu, 0x5442c564u, 0x56074645u,
  0x57bfbdbcu, 0x596c2a6du, 0x5b0c8fa3u, 0x5ca0f52fu, 0x5e296740u, 0x5fa5f63bu,
  0x6116b695u, 0x627bc0a5u, 0x63d53076u, 0x6523259au, 0x6665c2f9u, 0x679d2ea3u,
  0x68c99199u, 0x69eb17a2u, 0x6b01ef13u, 0x6c0e48a0u, 0x6d105727u, 0x6e084f81u,
  0x6ef6684bu, 0x6fdad9bbu, 0x70b5dd6cu, 0x7187ae2fu, 0x725087ddu, 0x7310a728u,
  0x73c84973u, 0x7477aca2u, 0x751f0ef5u, 0x75beaedfu, 0x7656cae0u, 0x76e7a161u,
  0x77717090u, 0x77f47644u, 0x7870efd8u, 0x78e71a13u, 0x7957310bu, 0x79c1700cu,
  0x7a261181u, 0x7a854edeu, 0x7adf608du, 0x7b347ddfu, 0x7b84dcf7u, 0x7bd0b2beu,
  0x7c1832d9u, 0x7c5b8f9bu, 0x7c9af9feu, 0x7cd6a19bu, 0x7d0eb4a2u, 0x7d435fd8u,
  0x7d74ce93u, 0x7da32ab6u, 0x7dce9cb2u, 0x7df74b88u, 0x7e1d5cc5u, 0x7e40f48bu,
  0x7e623590u, 0x7e814120u, 0x7e9e372bu, 0x7eb93640u, 0x7ed25b9bu, 0x7ee9c326u,
  0x7eff8786u, 0x7f13c21eu, 0x7f268b1cu, 0x7f37f97cu, 0x7f482315u, 0x7f571ca1u,
  0x7f64f9c5u, 0x7f71cd1du, 0x7f7da842u, 0x7f889bd5u, 0x7f92b78bu, 0x7f9c0a32u,
  0x7fa4a1bdu, 0x7fac8b4eu, 0x7fb3d33du, 0x7fba8523u, 0x7fc0abe0u, 0x7fc651a9u,
  0x7fcb800bu, 0x7fd03ff5u, 0x7fd499c3u, 0x7fd89540u, 0x7fdc39b5u, 0x7fdf8deau,
  0x7fe2982fu, 0x7fe55e64u, 0x7fe7e600u, 0x7fea3414u, 0x7fec4d53u, 0x7fee361au,
  0x7feff272u
};

int32_t lm_z_at(uint32_t key, uint32_t index, int32_t dist, int32_t one_q) {
  const uint32_t u = lm_hash32(lm_hash32(index ^ key) + key);
  uint32_t u31;
  int32_t lo = 0, hi = 127;
  if (dist == LM_DIST_RADEMACHER) return (u >> 31) ? -one_q : one_q;
  /* The device reads the count from a guide table; a binary search over the same thresholds
   * gives the same count with integers only. */
  u31 = u & 0x7fffffffu;
  while (lo < hi) {
    const int32_t mid = (lo + hi) >> 1;
    if (u31 >= GAUSS_THRESHOLDS[mid]) lo = mid + 1;
    else hi = mid;
  }
  return (u >> 31) ? -lo : lo;
}

/* ---- perturbation (assembly/perturb.ts) ---- */

int32_t lm_perturb_value(int32_t w, int32_t z, const lm_perturb *p, int32_t hi) {
  return clamp32(lm_requant_scalar(w * p->one_q + p->signed_eps * z, p->mult, p->shift), -hi, hi);
}

static int32_t load_weight(const void *w, int32_t bits, uint32_t i) {
  return bits == 16 ? (int32_t)((const int16_t *)w)[i] : (int32_t)((const int8_t *)w)[i];
}

/* Rows [n0, n0 + count) of a [N][K] weight matrix as int16 into dst, perturbed when pt is set. */
static void stage_rows(const void *w, int32_t bits, int32_t K, int32_t n0, int32_t count, const lm_perturb *pt, int16_t *dst) {
  const int32_t hi = bits == 16 ? 32767 : 127;
  const uint32_t first = (uint32_t)n0 * (uint32_t)K;
  const uint32_t total = (uint32_t)count * (uint32_t)K;
  uint32_t i;
  for (i = 0; i < total; i++) {
    const int32_t v = load_weight(w, bits, first + i);
    dst[i] = (int16_t)(pt ? lm_perturb_value(v, lm_z_at(pt->key, pt->start + first + i, pt->dist, pt->one_q), pt, hi) : v);
  }
}

/* ---- dot product: Σ (x[k] − zin)·w[k], wrapping; the Arm DSP path pairs taps for SMLAD ---- */

static uint32_t dot_s8_s16(const int8_t *x, const int16_t *w, int32_t n, int32_t zin, uint32_t acc) {
  int32_t k = 0;
#if LM_USE_DSP
  {
    /* (x − zin) for two taps packed as int16 halves, weights likewise: one SMLAD per pair.
     * The sum wraps modulo 2^32 exactly like the portable loop (SMLAD only sets the Q flag). */
    const uint32_t offset = (uint32_t)(uint16_t)(int16_t)(-zin) * 0x00010001u;
    int32_t a = u2i(acc);
    for (; k + 4 <= n; k += 4) {
      uint32_t xb, w01, w23, x02, x13;
      memcpy(&xb, x + k, 4);
      memcpy(&w01, w + k, 4);
      memcpy(&w23, w + k + 2, 4);
      x02 = __sadd16(__sxtb16(xb), offset);         /* taps 0 and 2 */
      x13 = __sadd16(__sxtb16((xb >> 8) | (xb << 24)), offset); /* taps 1 and 3 */
      /* Weight pairs (w0, w2) and (w1, w3): the compiler emits PKHBT / PKHTB for these. */
      a = __smlad(x02, (w01 & 0xffffu) | (w23 << 16), a);
      a = __smlad(x13, (w01 >> 16) | (w23 & 0xffff0000u), a);
    }
    acc = (uint32_t)a;
  }
#endif
  for (; k < n; k++) acc += (uint32_t)(((int32_t)x[k] - zin) * (int32_t)w[k]);
  return acc;
}

static uint32_t dot_s8_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t zin, uint32_t acc) {
  int32_t k = 0;
#if LM_USE_DSP
  {
    /* Both operands widened by SXTB16 into the same (0, 2) and (1, 3) pair order: one SMLAD each. */
    const uint32_t offset = (uint32_t)(uint16_t)(int16_t)(-zin) * 0x00010001u;
    int32_t a = u2i(acc);
    for (; k + 4 <= n; k += 4) {
      uint32_t xb, wb;
      memcpy(&xb, x + k, 4);
      memcpy(&wb, w + k, 4);
      a = __smlad(__sadd16(__sxtb16(xb), offset), __sxtb16(wb), a);
      a = __smlad(__sadd16(__sxtb16((xb >> 8) | (xb << 24)), offset), __sxtb16((wb >> 8) | (wb << 24)), a);
    }
    acc = (uint32_t)a;
  }
#endif
  for (; k < n; k++) acc += (uint32_t)(((int32_t)x[k] - zin) * (int32_t)w[k]);
  return acc;
}

static uint32_t dot_any(const int8_t *x, const void *w, int32_t bits, int32_t n, int32_t zin, uint32_t acc) {
  return bits == 16 ? dot_s8_s16(x, (const int16_t *)w, n, zin, acc) : dot_s8_s8(x, (const int8_t *)w, n, zin, acc);
}

/* Output channels per chunk: perturbed weights are staged as int16 rows in the layer's scratch. */
static int32_t chunk_rows(int32_t K, int32_t N, uint32_t scratch_bytes) {
  int32_t rows = (int32_t)(scratch_bytes / (2u * (uint32_t)K));
  return rows > N ? N : rows;
}

/* The weights a chunk of output channels [n0, n0 + cn) runs on: the layer's own rows, or, when
 * perturbed, the rows staged into scratch as int16 (row 0 there is channel n0). */
typedef struct {
  const void *w;
  int32_t bits;
  int32_t base;
} lm_chunk;

static lm_chunk chunk_weights(const void *weights, int32_t bits, int32_t K, int32_t n0, int32_t cn, const lm_perturb *pt, void *scratch) {
  lm_chunk c;
  if (pt) {
    stage_rows(weights, bits, K, n0, cn, pt, (int16_t *)scratch);
    c.w = scratch;
    c.bits = 16;
    c.base = 0;
  } else {
    c.w = weights;
    c.bits = bits;
    c.base = n0;
  }
  return c;
}

/* ---- fully connected (assembly/gemm.ts fully_connected_qs8) ---- */

static void dense_impl(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, void *out,
              int32_t M, int32_t K, int32_t N, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
              void *scratch, uint32_t scratch_bytes) {
  const int32_t chunk = pt ? chunk_rows(K, N, scratch_bytes) : N;
  int32_t n0, m, j;
  for (n0 = 0; n0 < N; n0 += chunk) {
    const int32_t cn = N - n0 < chunk ? N - n0 : chunk;
    const lm_chunk ch = chunk_weights(weights, bits, K, n0, cn, pt, scratch);
    const void *w = ch.w;
    const int32_t wb = ch.bits, base = ch.base;
    for (m = 0; m < M; m++) {
      const int8_t *x = in + (size_t)m * (size_t)K;
      for (j = 0; j < cn; j++) {
        const int32_t n = n0 + j;
        const size_t row = (size_t)(base + j) * (size_t)K;
        const void *wr = wb == 16 ? (const void *)((const int16_t *)w + row) : (const void *)((const int8_t *)w + row);
        const uint32_t acc = dot_any(x, wr, wb, K, zin, (uint32_t)(bias ? bias[n] : 0));
        if (rq->mult) ((int8_t *)out)[(size_t)m * (size_t)N + (size_t)n] = requant_out(acc, rq, n);
        else ((int32_t *)out)[(size_t)m * (size_t)N + (size_t)n] = u2i(acc);
      }
    }
  }
}

/* ---- conv2d, NHWC input, OHWI weights, no dilation (assembly/conv.ts conv2d_qs8) ---- */

/* Each output pixel's patch is gathered once into a column of int16 (x − zin) values, padded taps
 * as 0 (they add exactly 0 on the device too), and every output channel's dot product then reads
 * the column (as CMSIS-NN's im2col), two pixels and two channels at a time. With 8-bit weights each
 * group of four taps is stored in the order (0, 2, 1, 3), the order SXTB16 widens four weight bytes
 * into, so a weight word needs no repacking. The two columns live on the stack (4 × LM_COL_MAX
 * bytes); patches longer than LM_COL_MAX taps take the per-row path below. */
static void gather_column(const int8_t *in, const lm_conv_geom *g, int32_t b, int32_t iy0, int32_t ix0, int32_t zin, int32_t bits, int16_t *col) {
  const int32_t C = g->in_c, row_len = g->k_w * C, row_step = g->in_w * C;
  const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
  const int32_t kx1 = g->k_w < g->in_w - ix0 ? g->k_w : g->in_w - ix0;
  const int32_t lo = kx0 * C, hi = (kx1 > kx0 ? kx1 : kx0) * C;
  /* Offset of tap (ky, 0) in the input; only the valid taps [lo, hi) of a valid row are read. */
  int32_t off = ((b * g->in_h + iy0) * g->in_w + ix0) * C;
  int32_t ky, t;
  for (ky = 0; ky < g->k_h; ky++, col += row_len, off += row_step) {
    const int32_t iy = iy0 + ky;
    if (iy < 0 || iy >= g->in_h || hi == lo) {
      for (t = 0; t < row_len; t++) col[t] = 0;
      continue;
    }
    {
      const int8_t *x = in + (off + lo);
      for (t = 0; t < lo; t++) col[t] = 0;
      for (; t < hi; t++, x++) col[t] = (int16_t)((int32_t)*x - zin);
      for (; t < row_len; t++) col[t] = 0;
    }
  }
  if (bits == 8) {
    /* Taps 1 and 2 of each full group of four swap places: SXTB16 widens bytes (0, 2) and (1, 3). */
    const int32_t K = g->k_h * row_len;
    col -= K;
    for (t = 0; t + 4 <= K; t += 4) {
      const int16_t v = col[t + 1];
      col[t + 1] = col[t + 2];
      col[t + 2] = v;
    }
  }
}

/* A 2 × 2 tile: two pixels' columns against two output channels' weight rows, acc[2p + c] += Σ
 * col_p·w_c, wrapping. Each loaded column pair and weight pair feeds two SMLADs. */
static void dot2x2_col16(const int16_t *c0, const int16_t *c1, const int16_t *w0, const int16_t *w1, int32_t K, uint32_t acc[4]) {
  int32_t k = 0;
#if LM_USE_DSP
  {
    int32_t r00 = u2i(acc[0]), r01 = u2i(acc[1]), r10 = u2i(acc[2]), r11 = u2i(acc[3]);
    for (; k + 2 <= K; k += 2) {
      uint32_t x0, x1, p, q;
      memcpy(&x0, c0 + k, 4);
      memcpy(&x1, c1 + k, 4);
      memcpy(&p, w0 + k, 4);
      memcpy(&q, w1 + k, 4);
      r00 = __smlad(x0, p, r00);
      r01 = __smlad(x0, q, r01);
      r10 = __smlad(x1, p, r10);
      r11 = __smlad(x1, q, r11);
    }
    acc[0] = (uint32_t)r00;
    acc[1] = (uint32_t)r01;
    acc[2] = (uint32_t)r10;
    acc[3] = (uint32_t)r11;
  }
#endif
  for (; k < K; k++) {
    acc[0] += (uint32_t)((int32_t)c0[k] * (int32_t)w0[k]);
    acc[1] += (uint32_t)((int32_t)c0[k] * (int32_t)w1[k]);
    acc[2] += (uint32_t)((int32_t)c1[k] * (int32_t)w0[k]);
    acc[3] += (uint32_t)((int32_t)c1[k] * (int32_t)w1[k]);
  }
}

/* The same with 8-bit weights over columns in (0, 2, 1, 3) group order. */
static void dot2x2_col8(const int16_t *c0, const int16_t *c1, const int8_t *w0, const int8_t *w1, int32_t K, uint32_t acc[4]) {
  int32_t k = 0;
#if LM_USE_DSP
  {
    int32_t r00 = u2i(acc[0]), r01 = u2i(acc[1]), r10 = u2i(acc[2]), r11 = u2i(acc[3]);
    for (; k + 4 <= K; k += 4) {
      uint32_t x0, x1, wb, p, q;
      memcpy(&wb, w0 + k, 4);
      p = __sxtb16(wb);
      memcpy(&wb, w1 + k, 4);
      q = __sxtb16(wb);
      memcpy(&x0, c0 + k, 4);
      memcpy(&x1, c1 + k, 4);
      r00 = __smlad(x0, p, r00);
      r01 = __smlad(x0, q, r01);
      r10 = __smlad(x1, p, r10);
      r11 = __smlad(x1, q, r11);
      memcpy(&wb, w0 + k, 4);
      p = __sxtb16((wb >> 8) | (wb << 24));
      memcpy(&wb, w1 + k, 4);
      q = __sxtb16((wb >> 8) | (wb << 24));
      memcpy(&x0, c0 + k + 2, 4);
      memcpy(&x1, c1 + k + 2, 4);
      r00 = __smlad(x0, p, r00);
      r01 = __smlad(x0, q, r01);
      r10 = __smlad(x1, p, r10);
      r11 = __smlad(x1, q, r11);
    }
    acc[0] = (uint32_t)r00;
    acc[1] = (uint32_t)r01;
    acc[2] = (uint32_t)r10;
    acc[3] = (uint32_t)r11;
  }
#else
  for (; k + 4 <= K; k += 4) {
    int32_t t;
    for (t = 0; t < 4; t++) {
      /* Column slot of tap k + t in the (0, 2, 1, 3) order. */
      const int32_t slot = k + (t == 1 ? 2 : t == 2 ? 1 : t);
      acc[0] += (uint32_t)((int32_t)c0[slot] * (int32_t)w0[k + t]);
      acc[1] += (uint32_t)((int32_t)c0[slot] * (int32_t)w1[k + t]);
      acc[2] += (uint32_t)((int32_t)c1[slot] * (int32_t)w0[k + t]);
      acc[3] += (uint32_t)((int32_t)c1[slot] * (int32_t)w1[k + t]);
    }
  }
#endif
  for (; k < K; k++) {
    acc[0] += (uint32_t)((int32_t)c0[k] * (int32_t)w0[k]);
    acc[1] += (uint32_t)((int32_t)c0[k] * (int32_t)w1[k]);
    acc[2] += (uint32_t)((int32_t)c1[k] * (int32_t)w0[k]);
    acc[3] += (uint32_t)((int32_t)c1[k] * (int32_t)w1[k]);
  }
}

static void conv2d_columns(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
                           const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
                           void *scratch, uint32_t scratch_bytes) {
  /* Everything the pixel loop reads is copied into locals: every int8 store may alias memory the
   * compiler would otherwise reload after it (the geometry, the requantization parameters). */
  const lm_conv_geom geom = *g;
  const int32_t K = geom.k_h * geom.k_w * geom.in_c;
  const int32_t N = geom.out_c;
  const int32_t P = geom.batch * geom.out_h * geom.out_w;
  const int32_t chunk = pt ? chunk_rows(K, N, scratch_bytes) : N;
  const int32_t *rq_mult = rq->mult, *rq_shift = rq->shift;
  const int32_t per_channel = rq->per_channel, out_zp = rq->out_zp, act_min = rq->act_min, act_max = rq->act_max;
  int16_t cols[2 * LM_COL_MAX];
  int32_t n0, p, j, q;
  for (n0 = 0; n0 < N; n0 += chunk) {
    const int32_t cn = N - n0 < chunk ? N - n0 : chunk;
    const lm_chunk ch = chunk_weights(weights, bits, K, n0, cn, pt, scratch);
    const void *w = ch.w;
    const int32_t wb = ch.bits, base = ch.base;
    /* Pixels two at a time in output order (an odd last pixel pairs with itself), channels in pairs
     * (likewise): every tile reuses each column load for two channels and each weight load for two
     * pixels. */
    int32_t b = 0, oy = 0, ox = 0; /* the next pixel, stepped without divisions */
    for (p = 0; p < P; p += 2) {
      const int16_t *col[2];
      int8_t *dst[2];
      for (q = 0; q < 2; q++) {
        if (q == 1 && p + 1 == P) {
          col[1] = col[0];
          dst[1] = dst[0];
          break;
        }
        dst[q] = out + (size_t)(p + q) * (size_t)N;
        col[q] = cols + q * LM_COL_MAX;
        gather_column(in, &geom, b, oy * geom.stride_h - geom.pad_top, ox * geom.stride_w - geom.pad_left, zin, wb, cols + q * LM_COL_MAX);
        if (++ox == geom.out_w) {
          ox = 0;
          if (++oy == geom.out_h) {
            oy = 0;
            b++;
          }
        }
      }
      for (j = 0; j < cn; j += 2) {
        const int32_t j1 = j + 1 < cn ? j + 1 : j;
        const int32_t n = n0 + j, n1 = n0 + j1;
        const int32_t c = per_channel ? n : 0, c1 = per_channel ? n1 : 0;
        const size_t r0 = (size_t)(base + j) * (size_t)K, r1 = (size_t)(base + j1) * (size_t)K;
        const uint32_t b0 = (uint32_t)(bias ? bias[n] : 0), b1 = (uint32_t)(bias ? bias[n1] : 0);
        uint32_t acc[4];
        acc[0] = b0;
        acc[1] = b1;
        acc[2] = b0;
        acc[3] = b1;
        if (wb == 16) dot2x2_col16(col[0], col[1], (const int16_t *)w + r0, (const int16_t *)w + r1, K, acc);
        else dot2x2_col8(col[0], col[1], (const int8_t *)w + r0, (const int8_t *)w + r1, K, acc);
        for (q = 1; q >= 0; q--) {
          /* Pixel 1 first: when it is pixel 0 again, pixel 0's values are the ones left. */
          dst[q][n] = (int8_t)clamp32(requant(u2i(acc[2 * q]), rq_mult[c], rq_shift[c]) + out_zp, act_min, act_max);
          dst[q][n1] = (int8_t)clamp32(requant(u2i(acc[2 * q + 1]), rq_mult[c1], rq_shift[c1]) + out_zp, act_min, act_max);
        }
      }
    }
  }
}

/* Patches longer than LM_COL_MAX taps: one dot product per valid kernel row and channel. */
static void conv2d_rows(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
               const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
               void *scratch, uint32_t scratch_bytes) {
  const int32_t K = g->k_h * g->k_w * g->in_c;
  const int32_t N = g->out_c;
  const int32_t chunk = pt ? chunk_rows(K, N, scratch_bytes) : N;
  int32_t n0, b, oy, ox, j, ky;
  for (n0 = 0; n0 < N; n0 += chunk) {
    const int32_t cn = N - n0 < chunk ? N - n0 : chunk;
    const lm_chunk ch = chunk_weights(weights, bits, K, n0, cn, pt, scratch);
    const void *w = ch.w;
    const int32_t wb = ch.bits, base = ch.base;
    for (b = 0; b < g->batch; b++) {
      for (oy = 0; oy < g->out_h; oy++) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        for (ox = 0; ox < g->out_w; ox++) {
          const int32_t ix0 = ox * g->stride_w - g->pad_left;
          const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
          const int32_t kx1 = g->k_w < g->in_w - ix0 ? g->k_w : g->in_w - ix0;
          int8_t *dst = out + (((size_t)b * (size_t)g->out_h + (size_t)oy) * (size_t)g->out_w + (size_t)ox) * (size_t)N;
          for (j = 0; j < cn; j++) {
            const int32_t n = n0 + j;
            const size_t row = (size_t)(base + j) * (size_t)K;
            uint32_t acc = (uint32_t)(bias ? bias[n] : 0);
            /* Padded taps read the zero point and add exactly 0 on the device: skip them. */
            for (ky = 0; ky < g->k_h && kx1 > kx0; ky++) {
              const int32_t iy = iy0 + ky;
              const size_t tap = ((size_t)ky * (size_t)g->k_w + (size_t)kx0) * (size_t)g->in_c;
              const int8_t *x;
              if (iy < 0 || iy >= g->in_h) continue;
              x = in + (((size_t)b * (size_t)g->in_h + (size_t)iy) * (size_t)g->in_w + (size_t)(ix0 + kx0)) * (size_t)g->in_c;
              acc = wb == 16 ? dot_s8_s16(x, (const int16_t *)w + row + tap, (kx1 - kx0) * g->in_c, zin, acc)
                             : dot_s8_s8(x, (const int8_t *)w + row + tap, (kx1 - kx0) * g->in_c, zin, acc);
            }
            dst[n] = requant_out(acc, rq, n);
          }
        }
      }
    }
  }
}

static void conv2d_impl(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
                        const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
                        void *scratch, uint32_t scratch_bytes) {
  if (g->k_h * g->k_w * g->in_c <= LM_COL_MAX) conv2d_columns(in, weights, bits, bias, out, g, zin, rq, pt, scratch, scratch_bytes);
  else conv2d_rows(in, weights, bits, bias, out, g, zin, rq, pt, scratch, scratch_bytes);
}

/* ---- depthwise conv2d, weights [kH][kW][C·M] (assembly/depthwise.ts) ---- */

static void depthwise_impl(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
                  const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
                  void *scratch, uint32_t scratch_bytes) {
  const int32_t OC = g->in_c * g->depth_mult;
  const int32_t taps = g->k_h * g->k_w;
  /* A perturbed call stages its perturbed weights into scratch as int16 [taps][n], n channels at a
   * time: the whole layer when the scratch holds it, else as many channels as it holds (the planner
   * may give a trained layer a few channels' scratch to keep the SRAM peak down). Weight t·OC + o
   * meets z at stream index start + t·OC + o either way, so the results are the same. */
  const int32_t fit = (int32_t)(scratch_bytes / (2u * (uint32_t)taps));
  const int32_t group = !pt || fit >= OC ? OC : fit > 0 ? fit : 1;
  int32_t o0, b, oy, ox, o, ky, kx;
  for (o0 = 0; o0 < OC; o0 += group) {
    const int32_t n = OC - o0 < group ? OC - o0 : group;
    const void *wts = weights;
    int32_t wb = bits, ws = OC, wo = 0;
    if (pt) {
      int32_t t;
      /* Tap t's n channels are "rows" of one element starting at flat index t·OC + o0. */
      for (t = 0; t < taps; t++) stage_rows(weights, bits, 1, t * OC + o0, n, pt, (int16_t *)scratch + (size_t)t * (size_t)n);
      wts = scratch;
      wb = 16;
      ws = n;
      wo = o0;
    }
    /* The window's valid rows and columns are found once per pixel; a tap then costs two loads and a
     * multiply-accumulate, with pointer steps instead of index arithmetic. */
    for (b = 0; b < g->batch; b++) {
      for (oy = 0; oy < g->out_h; oy++) {
        const int32_t iy0 = oy * g->stride_h - g->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = g->k_h < g->in_h - iy0 ? g->k_h : g->in_h - iy0;
        for (ox = 0; ox < g->out_w; ox++) {
          const int32_t ix0 = ox * g->stride_w - g->pad_left;
          const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
          const int32_t kx1 = g->k_w < g->in_w - ix0 ? g->k_w : g->in_w - ix0;
          int8_t *dst = out + (((size_t)b * (size_t)g->out_h + (size_t)oy) * (size_t)g->out_w + (size_t)ox) * (size_t)OC;
          for (o = o0; o < o0 + n; o++) {
            const int32_t c = g->depth_mult == 1 ? o : o / g->depth_mult;
            uint32_t acc = (uint32_t)(bias ? bias[o] : 0);
            for (ky = ky0; ky < ky1; ky++) {
              const int8_t *x = in + (((size_t)b * (size_t)g->in_h + (size_t)(iy0 + ky)) * (size_t)g->in_w + (size_t)(ix0 + kx0)) * (size_t)g->in_c + (size_t)c;
              const size_t w0 = (size_t)(ky * g->k_w + kx0) * (size_t)ws + (size_t)(o - wo);
              if (wb == 16) {
                const int16_t *w = (const int16_t *)wts + w0;
                for (kx = kx0; kx < kx1; kx++, x += g->in_c, w += ws) acc += (uint32_t)(((int32_t)*x - zin) * (int32_t)*w);
              } else {
                const int8_t *w = (const int8_t *)wts + w0;
                for (kx = kx0; kx < kx1; kx++, x += g->in_c, w += ws) acc += (uint32_t)(((int32_t)*x - zin) * (int32_t)*w);
              }
            }
            dst[o] = requant_out(acc, rq, o);
          }
        }
      }
    }
  }
}

/* A perturbation whose weights were materialised in a panel reads the panel, unperturbed. */
void lm_dense(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, void *out,
              int32_t M, int32_t K, int32_t N, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
              void *scratch, uint32_t scratch_bytes) {
  if (pt && pt->source) dense_impl(in, pt->source, bits, bias, out, M, K, N, zin, rq, (const lm_perturb *)0, scratch, scratch_bytes);
  else dense_impl(in, weights, bits, bias, out, M, K, N, zin, rq, pt, scratch, scratch_bytes);
}

void lm_conv2d(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
               const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
               void *scratch, uint32_t scratch_bytes) {
  if (pt && pt->source) conv2d_impl(in, pt->source, bits, bias, out, g, zin, rq, (const lm_perturb *)0, scratch, scratch_bytes);
  else conv2d_impl(in, weights, bits, bias, out, g, zin, rq, pt, scratch, scratch_bytes);
}

void lm_depthwise(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
                  const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
                  void *scratch, uint32_t scratch_bytes) {
  if (pt && pt->source) depthwise_impl(in, pt->source, bits, bias, out, g, zin, rq, (const lm_perturb *)0, scratch, scratch_bytes);
  else depthwise_impl(in, weights, bits, bias, out, g, zin, rq, pt, scratch, scratch_bytes);
}

/* ---- pooling (assembly/pool.ts, scalar paths) ---- */

/* Window taps outer, channels inner: each tap's pixel is a contiguous run of channels, so the
 * running maximum of every channel lives in the output row and a tap costs a load, a compare and
 * a store per channel, with no index arithmetic. */
void lm_maxpool(const int8_t *in, int8_t *out, const lm_pool_geom *g) {
  const int32_t C = g->channels;
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < g->batch; b++) {
    const int8_t *image = in + (size_t)b * (size_t)g->in_h * (size_t)g->in_w * (size_t)C;
    for (oy = 0; oy < g->out_h; oy++) {
      const int32_t iy0 = oy * g->stride_h - g->pad_top;
      const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
      const int32_t ky1 = g->f_h < g->in_h - iy0 ? g->f_h : g->in_h - iy0;
      for (ox = 0; ox < g->out_w; ox++, out += C) {
        const int32_t ix0 = ox * g->stride_w - g->pad_left;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = g->f_w < g->in_w - ix0 ? g->f_w : g->in_w - ix0;
        c = 0;
#if LM_USE_DSP
        /* Four channels per word: SSUB8 sets a GE flag per byte where v ≥ m, SEL takes those bytes. */
        if (C % 4 == 0) {
          const uint32_t lo = (uint32_t)(uint8_t)(int8_t)g->act_min * 0x01010101u;
          const uint32_t hi = (uint32_t)(uint8_t)(int8_t)g->act_max * 0x01010101u;
          for (; c < C; c += 4) {
            uint32_t m = 0x80808080u, v;
            for (ky = ky0; ky < ky1; ky++) {
              const int8_t *row = image + ((size_t)(iy0 + ky) * (size_t)g->in_w + (size_t)ix0) * (size_t)C + (size_t)c;
              for (kx = kx0; kx < kx1; kx++) {
                memcpy(&v, row + (size_t)kx * (size_t)C, 4);
                (void)__ssub8(v, m);
                m = __sel(v, m);
              }
            }
            (void)__ssub8(m, lo);
            m = __sel(m, lo);
            (void)__ssub8(hi, m);
            m = __sel(m, hi);
            memcpy(out + c, &m, 4);
          }
          continue;
        }
#endif
        for (c = 0; c < C; c++) out[c] = -128;
        for (ky = ky0; ky < ky1; ky++) {
          const int8_t *row = image + ((size_t)(iy0 + ky) * (size_t)g->in_w + (size_t)ix0) * (size_t)C;
          for (kx = kx0; kx < kx1; kx++) {
            const int8_t *px = row + (size_t)kx * (size_t)C;
            for (c = 0; c < C; c++) {
              if (px[c] > out[c]) out[c] = px[c];
            }
          }
        }
        for (c = 0; c < C; c++) out[c] = (int8_t)clamp32(out[c], g->act_min, g->act_max);
      }
    }
  }
}

/* TFLM's rounded division (half away from zero), C's truncating '/' as on the device. */
static int32_t rounded_div(int32_t sum, int32_t n) {
  return sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n;
}

void lm_avgpool(const int8_t *in, int8_t *out, const lm_pool_geom *g) {
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < g->batch; b++) {
    for (oy = 0; oy < g->out_h; oy++) {
      const int32_t iy0 = oy * g->stride_h - g->pad_top;
      const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
      const int32_t ky1 = g->f_h < g->in_h - iy0 ? g->f_h : g->in_h - iy0;
      for (ox = 0; ox < g->out_w; ox++) {
        const int32_t ix0 = ox * g->stride_w - g->pad_left;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = g->f_w < g->in_w - ix0 ? g->f_w : g->in_w - ix0;
        for (c = 0; c < g->channels; c++) {
          int32_t sum = 0;
          for (ky = ky0; ky < ky1; ky++) {
            for (kx = kx0; kx < kx1; kx++) {
              sum += in[(((size_t)b * (size_t)g->in_h + (size_t)(iy0 + ky)) * (size_t)g->in_w + (size_t)(ix0 + kx)) * (size_t)g->channels + (size_t)c];
            }
          }
          *out++ = (int8_t)clamp32(rounded_div(sum, (ky1 - ky0) * (kx1 - kx0)), g->act_min, g->act_max);
        }
      }
    }
  }
}

void lm_global_avgpool(const int8_t *in, int8_t *out, int32_t batch, int32_t h, int32_t w, int32_t c) {
  const int32_t pixels = h * w;
  int32_t b, ch, p;
  for (b = 0; b < batch; b++) {
    const int8_t *image = in + (size_t)b * (size_t)pixels * (size_t)c;
    for (ch = 0; ch < c; ch++) {
      int32_t sum = 0;
      for (p = 0; p < pixels; p++) sum += image[(size_t)p * (size_t)c + (size_t)ch];
      out[(size_t)b * (size_t)c + (size_t)ch] = (int8_t)clamp32(rounded_div(sum, pixels), -128, 127);
    }
  }
}

/* ---- TFLM int8 Add (assembly/eltwise.ts add_s8) ---- */

void lm_add(const int8_t *a, const int8_t *b, int8_t *out, int32_t count, const lm_add_params *p) {
  int32_t i;
  for (i = 0; i < count; i++) {
    const int32_t sa = lm_requant_scalar(((int32_t)a[i] + p->off_a) * (1 << p->left_shift), p->mult_a, p->shift_a);
    const int32_t sb = lm_requant_scalar(((int32_t)b[i] + p->off_b) * (1 << p->left_shift), p->mult_b, p->shift_b);
    const int32_t raw = lm_requant_scalar(wadd(sa, sb), p->mult_out, p->shift_out) + p->out_off;
    out[i] = (int8_t)clamp32(raw, p->act_min, p->act_max);
  }
}

/* ---- fixed-point softmax cross-entropy (assembly/loss.ts) ---- */

static int32_t exp_on_sixteenth_interval(int32_t a) {
  const int32_t exp_minus_one_thirty_second = 2081412522;
  const int32_t one_third = 715827883;
  const int32_t x = wadd(a, 1 << 26);
  const int32_t x2 = srdhm(x, x);
  const int32_t x3 = srdhm(x2, x);
  const int32_t x4 = srdhm(x2, x2);
  const int32_t poly = rdbpot(wadd(srdhm(wadd(rdbpot(x4, 2), x3), one_third), x2), 1);
  return wadd(exp_minus_one_thirty_second, srdhm(exp_minus_one_thirty_second, wadd(x, poly)));
}

static int32_t exp_negative_q26(int32_t a) {
  static const int32_t factors[9] = { 2017374191, 1895147668, 1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242 };
  const int32_t one_sixteenth = 1 << 22;
  const int32_t mod = (a & (one_sixteenth - 1)) - one_sixteenth;
  int32_t result = exp_on_sixteenth_interval(mod * 32);
  const int32_t remainder = mod - a;
  int32_t bit;
  for (bit = 0; bit < 9; bit++) {
    if (remainder & (1 << (22 + bit))) result = srdhm(result, factors[bit]);
  }
  return result;
}

static int32_t top_bit64(uint64_t v) {
  int32_t top = 63;
  while (top > 0 && !((v >> top) & 1u)) top--;
  return top;
}

static int64_t ln_q31(int64_t sum) {
  static const int64_t coeffs[9] = { 2147483648LL, 715827883LL, 429496730LL, 306783378LL, 238609294LL, 195225786LL, 165191050LL, 143165577LL, 126322568LL };
  const int32_t top = top_bit64((uint64_t)sum);
  const int32_t k = top - 31;
  const int64_t m = sum >> (top - 30);
  const int64_t t = ((m - ((int64_t)1 << 30)) * ((int64_t)1 << 31)) / (m + ((int64_t)1 << 30));
  const int64_t u = (t * t + ((int64_t)1 << 30)) >> 31;
  int64_t p = coeffs[8];
  int32_t n;
  for (n = 7; n >= 0; n--) p = coeffs[n] + ((u * p + ((int64_t)1 << 30)) >> 31);
  return (int64_t)k * 1488522236LL + ((t * p + ((int64_t)1 << 29)) >> 30);
}

static int64_t scaled_diff(int32_t x, int64_t x_max, int32_t mult, int64_t half, int32_t total_shift) {
  /* (x − max)·mult + half, wrapping in 64 bits as the device does, then an arithmetic shift. */
  const uint64_t prod = (uint64_t)((int64_t)x - x_max) * (uint64_t)(int64_t)mult + (uint64_t)half;
  const int64_t v = prod <= (uint64_t)INT64_MAX ? (int64_t)prod : (int64_t)(prod - (uint64_t)INT64_MAX - 1u) - INT64_MAX - 1;
  return asr64(v, total_shift);
}

int64_t lm_softmax_exp_q31(int32_t x, int64_t x_max, int32_t mult, int32_t shift) {
  const int32_t total_shift = 31 - shift;
  const int64_t a = scaled_diff(x, x_max, mult, (int64_t)1 << (total_shift - 1), total_shift);
  if (a == 0) return (int64_t)1 << 31;
  return a >= INT32_MIN ? (int64_t)exp_negative_q26((int32_t)a) : 0;
}

int32_t lm_cross_entropy_i32(const int32_t *logits, int32_t rows, int32_t classes, const int32_t *labels,
                             int32_t mult, int32_t shift, int32_t *out) {
  const int32_t total_shift = 31 - shift;
  const int64_t half = (int64_t)1 << (total_shift - 1);
  int64_t total = 0, q16;
  int32_t r, c;
  for (r = 0; r < rows; r++) {
    const int32_t label = labels[r];
    const int32_t *row = logits + (size_t)r * (size_t)classes;
    int64_t x_max = row[0], sum = 0, a_label, ln_sum_q26, row_loss;
    if ((uint32_t)label >= (uint32_t)classes) return r + 1;
    for (c = 1; c < classes; c++) if (row[c] > x_max) x_max = row[c];
    for (c = 0; c < classes; c++) {
      const int64_t a = scaled_diff(row[c], x_max, mult, half, total_shift);
      if (a == 0) sum += (int64_t)1 << 31;
      else if (a >= INT32_MIN) sum += exp_negative_q26((int32_t)a);
    }
    a_label = scaled_diff(row[label], x_max, mult, half, total_shift);
    ln_sum_q26 = (ln_q31(sum) + 16) >> 5;
    row_loss = ln_sum_q26 - a_label;
    total += row_loss < ((int64_t)1 << 41) ? row_loss : ((int64_t)1 << 41);
  }
  q16 = asr64(total + 512, 10);
  *out = q16 < INT32_MAX ? (int32_t)q16 : INT32_MAX;
  return 0;
}

/* ---- the QZO-FF update (assembly/update.ts) ---- */

void lm_update(void *weights, int32_t bits, uint32_t count, const uint32_t *keys, const int32_t *signs,
               int32_t m, int32_t dist, int32_t one_q, int32_t c_mult, int32_t c_shift) {
  const int32_t hi = bits == 16 ? 32767 : 127;
  int32_t any = 0, j;
  uint32_t i;
  for (j = 0; j < m; j++) any |= signs[j] != 0;
  if (!any) return;
  for (i = 0; i < count; i++) {
    int32_t g = 0, w;
    for (j = 0; j < m; j++) {
      if (signs[j] != 0) g += signs[j] * lm_z_at(keys[j], i, dist, one_q);
    }
    w = load_weight(weights, bits, i) - lm_requant_scalar(g, c_mult, c_shift);
    w = clamp32(w, -hi, hi);
    if (bits == 16) ((int16_t *)weights)[i] = (int16_t)w;
    else ((int8_t *)weights)[i] = (int8_t)w;
  }
}

/* ---- stochastic rounding, the 8w8a remedy (assembly/materialised_zo.ts) ---- */

int32_t lm_dither_scale(int32_t x, int32_t mult, int32_t shift, uint32_t key, uint32_t index) {
  const uint64_t u = lm_hash32(lm_hash32(index ^ key) + key);
  const int64_t d = shift >= 32 ? (int64_t)(u << (shift - 32)) : (int64_t)(u >> (32 - shift));
  return (int32_t)asr64((int64_t)x * (int64_t)mult + d, shift);
}

void lm_perturb_dither(const void *src, void *dst, int32_t bits, uint32_t count, uint32_t key, uint32_t dither_key,
                       int32_t dist, int32_t one_q, int32_t sign, int32_t mult, int32_t shift) {
  const int32_t hi = bits == 16 ? 32767 : 127;
  uint32_t i;
  for (i = 0; i < count; i++) {
    /* One δ per (direction, element), applied as +δ and −δ: the pair stays antithetic. */
    const int32_t delta = lm_dither_scale(lm_z_at(key, i, dist, one_q), mult, shift, dither_key, i);
    const int32_t v = clamp32(load_weight(src, bits, i) + (sign < 0 ? -delta : delta), -hi, hi);
    if (bits == 16) ((int16_t *)dst)[i] = (int16_t)v;
    else ((int8_t *)dst)[i] = (int8_t)v;
  }
}

void lm_update_dither(void *weights, int32_t bits, uint32_t count, const uint32_t *keys, const int32_t *signs,
                      int32_t m, int32_t dist, int32_t one_q, int32_t mult, int32_t shift, uint32_t dither_key) {
  const int32_t hi = bits == 16 ? 32767 : 127;
  uint32_t i;
  int32_t j;
  for (i = 0; i < count; i++) {
    int32_t g = 0, w;
    for (j = 0; j < m; j++) {
      if (signs[j] != 0) g += signs[j] * lm_z_at(keys[j], i, dist, one_q);
    }
    if (g == 0) continue;
    w = clamp32(load_weight(weights, bits, i) - lm_dither_scale(g, mult, shift, dither_key, i), -hi, hi);
    if (bits == 16) ((int16_t *)weights)[i] = (int16_t)w;
    else ((int8_t *)weights)[i] = (int8_t)w;
  }
}
