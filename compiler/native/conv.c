/* hybrix native CPU convolution: an indirect-GEMM 2-D convolution on NHWC data, called by
 * XLA as a typed FFI custom call (api_version 1) through the plain C API (c_api.h).
 *
 * out[m, o] = bias[o] + sum over kept taps t and channels c of x[pixel(m, t), c] * W[o, t, c]
 * (+ residual[m, o] when a fourth input is given: a ResNet block's shortcut, then the ReLU)
 * with m = (n, oh, ow). No im2col matrix: for a block of MR output pixels and one tap the
 * kernel keeps MR pointers to input rows (a zero row where the tap reads padding). The weight
 * is packed once per call into NR-wide column panels (K x NR, K = taps * C), read from either
 * weight layout the op has: (O, KH, KW, C) or (O, C, KH, KW), restricted to the kept taps;
 * or it arrives packed so (layout 2: a constant weight packed once, ahead of every call, as
 * hybrix_conv_panel_width describes).
 * One source serves every x86/other CPU: GCC vector extensions compile to zmm registers
 * under AVX-512, ymm under AVX2 and plain code elsewhere (it is built with -march=native on
 * the machine that runs it). Work is split over XLA's own intra-op thread pool.
 */
#define KERNEL_NAME "Convolution"
#include "common.h"

#if VW == 16
#define NV_MAX 4
#elif VW == 8
#define NV_MAX 3
#else
#define NV_MAX 4
#endif

/* -- the problem ------------------------------------------------------------------------- */
/* the int64 array attribute `conv`; P_THREADS: at most this many threads (0: the pool's) */
enum {
  P_WLAYOUT, P_TH0, P_TW0, P_KH, P_KW, P_SH, P_SW, P_DH, P_DW, P_PT, P_PL, P_RELU, P_THREADS,
  P_COUNT
};

typedef struct {
  const float *x, *w, *bias;
  const float *residual; /* NULL, or (N, OH, OW, O) added before the ReLU */
  float *out;
  int64_t n, h, w_in, c, o, oh, ow, m;
  int64_t kh_full, kw_full, th0, tw0, kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t taps, k;  /* kept taps, K = taps * c */
  int wlayout, relu; /* wlayout 0: (O, KH, KW, C); 1: (O, C, KH, KW); 2: packed panels */
  int stream;        /* store the output past the caches (see STREAM_MAX_CHANNELS) */
  int pointwise;     /* 1x1 taps, stride 1, no padding, same size: pixel m reads pixel m */
  int64_t max_threads;
  int nv, nr, mr;    /* panel width in vectors and floats, rows per tile */
  int64_t panels, mblocks, group, chunks;
  float *packed; /* panels x K x nr */
  float *bias_padded;
  const float *zero;
  atomic_int failed;
} conv_t;

/* -- packing: W restricted to the kept taps -> panels of nr columns ---------------------- */
#if VW == 16
#include <immintrin.h>
/* dst row q (stride ds) = column q of the 16 rows src[0..15] (16 floats each) */
static inline void transpose16(const float *const *src, float *dst, long ds) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src[i]);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int h = 0; h < 16; h += 8)
    for (int q = 0; q < 4; q++) {
      t[h + q] = _mm512_shuffle_f32x4(r[h + q], r[h + 4 + q], 0x88);
      t[h + 4 + q] = _mm512_shuffle_f32x4(r[h + q], r[h + 4 + q], 0xdd);
    }
  for (int q = 0; q < 8; q++) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
  }
  for (int q = 0; q < 16; q++) _mm512_storeu_ps(dst + q * ds, r[q]);
}
#endif

/* one output channel row (or zeros past the last filter) of one tap, channels [c0, c1) */
static void pack_row(const conv_t *p, float *dst, int64_t o, int64_t th, int64_t tw,
                     int64_t c0, int64_t c1) {
  int64_t nr = p->nr;
  if (o >= p->o) {
    for (int64_t ci = c0; ci < c1; ci++) dst[ci * nr] = 0.0f;
  } else if (p->wlayout == 0) {
    const float *src = p->w + ((o * p->kh_full + th) * p->kw_full + tw) * p->c;
    for (int64_t ci = c0; ci < c1; ci++) dst[ci * nr] = src[ci];
  } else {
    const float *src = p->w + (o * p->c * p->kh_full + th) * p->kw_full + tw;
    int64_t step = p->kh_full * p->kw_full;
    for (int64_t ci = c0; ci < c1; ci++) dst[ci * nr] = src[ci * step];
  }
}

/* tap t of panel `panel` into slot `slot` (C x nr floats each) of `panel_base` */
static void pack_tap(const conv_t *p, float *panel_base, int64_t panel, int64_t t, int64_t slot) {
  int64_t th = p->th0 + t / p->kw, tw = p->tw0 + t % p->kw;
  int64_t o0 = panel * p->nr, c = p->c, nr = p->nr;
  float *dst = panel_base + slot * c * nr;
  for (int64_t j0 = 0; j0 < nr; j0 += VW) {
    int64_t done = 0;
#if VW == 16
    /* NOTE: 16x16 register transposes: the scalar loop's scattered 4-byte stores made
     * packing cost more than the 512-channel 7x7 convolutions themselves */
    if (p->wlayout == 0 && o0 + j0 + 16 <= p->o) {
      const float *rows[16];
      for (int j = 0; j < 16; j++)
        rows[j] = p->w + (((o0 + j0 + j) * p->kh_full + th) * p->kw_full + tw) * c;
      for (; done + 16 <= c; done += 16) {
        const float *block[16];
        for (int j = 0; j < 16; j++) block[j] = rows[j] + done;
        transpose16(block, dst + done * nr + j0, nr);
      }
    }
#endif
    for (int64_t j = j0; j < j0 + VW; j++) pack_row(p, dst + j, o0 + j, th, tw, done, c);
  }
}

static void pack_chunk(void *arg, int64_t chunk) {
  const conv_t *p = arg;
  int64_t panel = chunk / p->taps;
  int64_t t = chunk % p->taps;
  pack_tap(p, p->packed + panel * p->k * p->nr, panel, t, t);
}

/* -- the tile: MR output pixels x NV vectors of output channels ------------------------ */
/* kernel rows [row0, row1) of the packed panel (which starts at row0); first: start from
 * zero (else from the partial sums stored in out); last: add bias, ReLU, final store */
typedef struct {
  int64_t row0, row1;
  int first, last;
} krange_t;

static const krange_t WHOLE_K = {0, INT64_MAX, 1, 1};

/* acc[r][v] += sum over i < length of a[r][i] * b[i * nr + v * VW ..] */
static inline __attribute__((always_inline)) void multiply_add(vec acc[12][NV_MAX],
                                                               const float *const *a,
                                                               const float *b, int64_t length,
                                                               int64_t nr, const int NV,
                                                               const int MR) {
#pragma GCC unroll 2
  for (int64_t ci = 0; ci < length; ci++) {
    vec bv[NV_MAX];
    for (int v = 0; v < NV; v++) bv[v] = *(const vec *)(b + ci * nr + v * VW);
    for (int r = 0; r < MR; r++) {
      float s = a[r][ci];
      for (int v = 0; v < NV; v++) acc[r][v] += bv[v] * s;
    }
  }
}

/* the kernel rows [kr->row0, kr->row1) for any window: each row of the tile finds its input
 * pixel per tap (a zero row where the tap reads padding) */
static inline __attribute__((always_inline)) void general_rows(const conv_t *p,
                                                               const float *panel_base,
                                                               int64_t m0, const krange_t *kr,
                                                               vec acc[12][NV_MAX],
                                                               const int NV, const int MR) {
  const int64_t nr = p->nr;
  int64_t base[12], ih0[12], iw0[12];
  /* the first row's pixel by division, the others by stepping (divisions cost more than a
   * short K loop's multiply-adds) */
  int64_t ow = m0 % p->ow, rest = m0 / p->ow;
  int64_t oh = rest % p->oh, n = rest / p->oh;
  for (int r = 0; r < MR; r++) {
    if (m0 + r >= p->m) { /* past the end: read the zero row, never stored */
      base[r] = -1;
      ih0[r] = iw0[r] = 0;
      continue;
    }
    base[r] = n * p->h;
    ih0[r] = oh * p->sh - p->pt;
    iw0[r] = ow * p->sw - p->pl;
    if (++ow == p->ow) {
      ow = 0;
      if (++oh == p->oh) oh = 0, n++;
    }
  }
  const int64_t c = p->c, row1 = kr->row1 < p->kh ? kr->row1 : p->kh;
  /* NOTE: with dilation 1 along W, one kernel row's taps read KW * C contiguous floats of
   * NHWC data (and the packed weight is tap-major): one loop of KW * C instead of KW loops
   * of C when every row of the tile has its whole window row inside the image (rows reading
   * padding vertically read the zero row, which is long enough); thin-channel stems gain
   * most. Per row, `start` is the offset of its window's first pixel in image row 0. */
  int merged = p->dw == 1 && p->kw > 1;
  int64_t start[12];
  for (int r = 0; r < MR; r++) {
    if (base[r] >= 0 && (iw0[r] < 0 || iw0[r] + p->kw > p->w_in)) merged = 0;
    start[r] = (base[r] * p->w_in + iw0[r]) * c;
  }
  int64_t pieces = merged ? 1 : p->kw, length = merged ? p->kw * c : c;
  for (int64_t row = kr->row0; row < row1; row++) {
    int64_t dy = row * p->dh;
    for (int64_t piece = 0; piece < pieces; piece++) {
      int64_t dx = piece * p->dw;
      const float *a[12];
      for (int r = 0; r < MR; r++) {
        int64_t ih = ih0[r] + dy, iw = iw0[r] + dx;
        int inside = base[r] >= 0 && ih >= 0 && ih < p->h && (merged || (iw >= 0 && iw < p->w_in));
        a[r] = inside ? p->x + start[r] + (ih * p->w_in + dx) * c : p->zero;
      }
      const float *b = panel_base + ((row - kr->row0) * p->kw + piece) * c * nr;
      multiply_add(acc, a, b, length, nr, NV, MR);
    }
  }
}

/* epilogue: bias, residual, optional ReLU (last K block only), store the valid rows and
 * columns */
static inline __attribute__((always_inline)) void store(const conv_t *p, int64_t o0,
                                                        int64_t cols, int64_t m0,
                                                        const krange_t *kr,
                                                        vec acc[12][NV_MAX], const int NV,
                                                        const int MR) {
  for (int r = 0; r < MR; r++) {
    int64_t m = m0 + r;
    if (m >= p->m) break;
    float *dst = p->out + m * p->o + o0;
    const float *res = p->residual ? p->residual + m * p->o + o0 : NULL;
    for (int v = 0; v < NV; v++) {
      vec value = acc[r][v];
      if (kr->last) {
        value += *(const vec *)(p->bias_padded + o0 + v * VW);
        if (res && (v + 1) * VW <= cols) {
          value += *(const vec_u *)(res + v * VW);
        } else if (res) {
          for (int j = 0; v * VW + j < cols; j++) value[j] += res[v * VW + j];
        }
        if (p->relu) value = (vec)((ivec)value & (value > (vec){0}));
      }
      if ((v + 1) * VW <= cols) {
#if VW == 16
        if (p->stream && kr->last && ((uintptr_t)(dst + v * VW) & 63) == 0) {
          _mm512_stream_ps(dst + v * VW, (__m512)value);
          continue;
        }
#endif
        *(vec_u *)(dst + v * VW) = value;
      } else {
        for (int j = 0; v * VW + j < cols; j++) dst[v * VW + j] = value[j];
        break;
      }
    }
  }
}

static inline __attribute__((always_inline)) void tile(const conv_t *p, const float *panel_base,
                                                       int64_t panel, int64_t m0,
                                                       const krange_t *kr, const int NV,
                                                       const int MR) {
  vec acc[12][NV_MAX]; /* NOTE: fixed sizes; NV, MR are constants once inlined */
  const int64_t nr = p->nr, o0 = panel * nr;
  const int64_t cols = p->o - o0 < nr ? p->o - o0 : nr;
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = (vec){0};
  if (!kr->first) {
    for (int r = 0; r < MR && m0 + r < p->m; r++) {
      const float *src = p->out + (m0 + r) * p->o + o0;
      for (int v = 0; v < NV; v++) {
        if ((v + 1) * VW <= cols) {
          acc[r][v] = *(const vec_u *)(src + v * VW);
        } else {
          for (int j = 0; v * VW + j < cols; j++) acc[r][v][j] = src[v * VW + j];
          break;
        }
      }
    }
  }
  if (p->pointwise) { /* output pixel m reads input pixel m: no index arithmetic */
    const float *a[12];
    for (int r = 0; r < MR; r++) a[r] = m0 + r < p->m ? p->x + (m0 + r) * p->c : p->zero;
    multiply_add(acc, a, panel_base, p->c, nr, NV, MR);
  } else {
    general_rows(p, panel_base, m0, kr, acc, NV, MR);
  }
  store(p, o0, cols, m0, kr, acc, NV, MR);
}

#if VW == 16
#define MR_FOR(nv) ((nv) == 4 ? 6 : (nv) == 3 ? 8 : 12)
#elif VW == 8
#define MR_FOR(nv) ((nv) == 3 ? 4 : (nv) == 2 ? 6 : 8)
#else
#define MR_FOR(nv) ((nv) == 4 ? 3 : (nv) == 3 ? 4 : 6)
#endif

/* NOTE: the last tile of a small image is mostly past its end (7x7 = 49 pixels: eight tiles
 * of 6 and one of 1 computed as 6); it runs with fewer rows (1, 2 or 4), so the 7x7 layers
 * of ResNet at batch 1 stop wasting a tenth of their multiply-adds */
#define DEFINE_TILES(nv)                                                                      \
  static void tiles_##nv(const conv_t *p, const float *panel_base, int64_t panel, int64_t mb0, \
                         int64_t mb1, const krange_t *kr) {                                  \
    const int mr = MR_FOR(nv);                                                               \
    for (int64_t mb = mb0; mb < mb1; mb++) {                                                 \
      int64_t m0 = mb * mr, rest = p->m - m0;                                                \
      if (rest >= mr || rest > 4)                                                            \
        tile(p, panel_base, panel, m0, kr, nv, mr);                                          \
      else if (rest > 2)                                                                     \
        tile(p, panel_base, panel, m0, kr, nv, 4);                                           \
      else if (rest == 2)                                                                    \
        tile(p, panel_base, panel, m0, kr, nv, 2);                                           \
      else                                                                                   \
        tile(p, panel_base, panel, m0, kr, nv, 1);                                           \
    }                                                                                        \
  }
DEFINE_TILES(1)
DEFINE_TILES(2)
DEFINE_TILES(3)
#if NV_MAX >= 4
DEFINE_TILES(4)
#endif

static void run_tiles(const conv_t *p, const float *panel_base, int64_t panel, int64_t mb0,
                      int64_t mb1, const krange_t *kr) {
  switch (p->nv) {
    case 1: tiles_1(p, panel_base, panel, mb0, mb1, kr); break;
    case 2: tiles_2(p, panel_base, panel, mb0, mb1, kr); break;
    case 3: tiles_3(p, panel_base, panel, mb0, mb1, kr); break;
#if NV_MAX >= 4
    default: tiles_4(p, panel_base, panel, mb0, mb1, kr); break;
#endif
  }
}

/* streamed stores are weakly ordered: fenced before the chunk counts as done */
static inline void fence_streamed(const conv_t *p) {
#if VW == 16
  if (p->stream) _mm_sfence();
#else
  (void)p;
#endif
}

/* shared mode: every panel packed first (all threads), then m-range chunks, each through
 * every panel: whole output rows are written together and the input rows are read while
 * hot (panel-major chunks wrote 64-column stripes of the output; ResNet-50's 56x56x64 ->
 * 256 1x1 ran at 148 GFLOP/s so) */
static void compute_chunk(void *arg, int64_t chunk) {
  const conv_t *p = arg;
  int64_t mb0 = chunk * p->group;
  int64_t mb1 = mb0 + p->group < p->mblocks ? mb0 + p->group : p->mblocks;
  for (int64_t panel = 0; panel < p->panels; panel++)
    run_tiles(p, p->packed + panel * p->k * p->nr, panel, mb0, mb1, &WHOLE_K);
  fence_streamed(p);
}

static _Thread_local float *panel_scratch;
static _Thread_local size_t panel_floats;

/* panel mode: a chunk is one panel, packed into this thread's buffer (hot in its cache)
 * and used at once for every output pixel: the packed weight never goes to memory.
 * NOTE: a panel of 3x3x512 channels (1.2 MB) outgrew the L2 cache and was streamed from L3
 * once per 6 output pixels: it is packed and used a few kernel rows (<= 512 KB) at a time,
 * partial sums kept in the output */
#define PANEL_BLOCK_FLOATS (128 * 1024)
/* NOTE: a stem (a few input channels) writes the network's largest tensor (ResNet's
 * 112x112x64, 3.2 MB) into lines the rest of the previous call evicted: with ordinary stores
 * each line is first read from memory. Stored past the caches, ResNet-18/50 and MobileNet at
 * batch 1 ran 0.988x the time (the same program with and without, calls alternated in one
 * process) and the stem alone ~0.8x */
#define STREAM_MAX_CHANNELS 4
#define STREAM_MIN_FLOATS (256 * 1024)
/* packed weights (K x O floats) below this many bytes are shared even with many panels:
 * they stay in L2 while the threads split the output pixels */
#define SHARED_WEIGHT_BYTES (512 * 1024)
static void panel_chunk(void *arg, int64_t panel) {
  conv_t *p = arg;
  int64_t row_floats = p->kw * p->c * p->nr;
  int64_t rows = PANEL_BLOCK_FLOATS / row_floats;
  if (rows < 1) rows = 1;
  if (rows > p->kh) rows = p->kh;
  int prepacked = p->wlayout == 2;
  float *buffer = prepacked ? NULL : grow(&panel_scratch, &panel_floats, (size_t)(rows * row_floats));
  if (!prepacked && !buffer) {
    atomic_store(&p->failed, 1);
    return;
  }
  for (int64_t row0 = 0; row0 < p->kh; row0 += rows) {
    int64_t row1 = row0 + rows < p->kh ? row0 + rows : p->kh;
    krange_t kr = {row0, row1, row0 == 0, row1 == p->kh};
    if (prepacked) { /* the same rows of the panel packed ahead of the call */
      run_tiles(p, p->packed + panel * p->k * p->nr + row0 * row_floats, panel, 0, p->mblocks, &kr);
      continue;
    }
    for (int64_t t = row0 * p->kw; t < row1 * p->kw; t++)
      pack_tap(p, buffer, panel, t, t - row0 * p->kw);
    run_tiles(p, buffer, panel, 0, p->mblocks, &kr);
  }
  fence_streamed(p);
}

/* -- scratch: the packed weight, one growing buffer per calling thread ------------------ */
static _Thread_local float *scratch;
static _Thread_local size_t scratch_floats;

/* -- the FFI handler --------------------------------------------------------------------- */
static XLA_FFI_Error *decode(XLA_FFI_CallFrame *frame, conv_t *p) {
  const XLA_FFI_Api *api = frame->api;
  const int64_t *q;
  /* data, weight, bias and optionally the residual */
  int64_t args = frame->args.size == 4 ? 4 : 3;
  XLA_FFI_Error *error = decode_frame_of(frame, args, "conv", P_COUNT, &q);
  if (error) return error;
  const XLA_FFI_Buffer *x = frame->args.args[0], *w = frame->args.args[1];
  const XLA_FFI_Buffer *b = frame->args.args[2], *y = frame->rets.rets[0];
  if (x->rank != 4) FAIL("expected data (N, H, W, C) of rank 4, got rank %lld", (long long)x->rank);
  if (y->rank != 4) FAIL("expected output (N, OH, OW, O) of rank 4, got rank %lld",
                         (long long)y->rank);
  p->wlayout = (int)q[P_WLAYOUT];
  p->n = x->dims[0], p->h = x->dims[1], p->w_in = x->dims[2], p->c = x->dims[3];
  if (p->wlayout == 2) { /* packed once, ahead of the call: checked against (panels, K, nr) */
    if (w->rank != 3)
      FAIL("expected a packed weight (panels, K, NR) of rank 3, got rank %lld", (long long)w->rank);
    p->o = y->dims[3];
    p->kh_full = q[P_KH], p->kw_full = q[P_KW];
  } else if (p->wlayout == 0 || p->wlayout == 1) {
    if (w->rank != 4) FAIL("expected a weight of rank 4, got rank %lld", (long long)w->rank);
    p->o = w->dims[0];
    int64_t wc = p->wlayout == 0 ? w->dims[3] : w->dims[1];
    p->kh_full = p->wlayout == 0 ? w->dims[1] : w->dims[2];
    p->kw_full = p->wlayout == 0 ? w->dims[2] : w->dims[3];
    if (wc != p->c)
      FAIL("data has %lld channels but the weight (%lld, %lld, %lld, %lld) expects %lld",
           (long long)p->c, (long long)w->dims[0], (long long)w->dims[1], (long long)w->dims[2],
           (long long)w->dims[3], (long long)wc);
  } else {
    FAIL("weight layout %d (expected 0: OHWI, 1: OIHW, 2: packed)", p->wlayout);
  }
  if (b->rank != 1 || b->dims[0] != p->o)
    FAIL("expected a bias of shape (%lld,)", (long long)p->o);
  p->th0 = q[P_TH0], p->tw0 = q[P_TW0], p->kh = q[P_KH], p->kw = q[P_KW];
  p->sh = q[P_SH], p->sw = q[P_SW], p->dh = q[P_DH], p->dw = q[P_DW];
  p->pt = q[P_PT], p->pl = q[P_PL], p->relu = q[P_RELU] != 0;
  p->max_threads = q[P_THREADS];
  if (p->kh < 1 || p->kw < 1 || p->th0 < 0 || p->tw0 < 0 || p->th0 + p->kh > p->kh_full ||
      p->tw0 + p->kw > p->kw_full || p->sh < 1 || p->sw < 1 || p->dh < 1 || p->dw < 1)
    FAIL("bad window: taps [%lld, %lld) x [%lld, %lld) of a %lldx%lld kernel, stride %lldx%lld, "
         "dilation %lldx%lld", (long long)p->th0, (long long)(p->th0 + p->kh),
         (long long)p->tw0, (long long)(p->tw0 + p->kw), (long long)p->kh_full,
         (long long)p->kw_full, (long long)p->sh, (long long)p->sw, (long long)p->dh,
         (long long)p->dw);
  p->oh = y->dims[1], p->ow = y->dims[2];
  p->stream = p->c <= STREAM_MAX_CHANNELS && p->n * p->oh * p->ow * p->o >= STREAM_MIN_FLOATS;
  /* NOTE: a tile's index arithmetic (two divisions per row) outweighed short K loops:
   * MobileNet's 112x112x32 -> 64 1x1 (K = 32) ran ~280 GFLOP/s in the network */
  p->pointwise = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 &&
                 p->pl == 0 && p->oh == p->h && p->ow == p->w_in;
  if (y->dims[0] != p->n || y->dims[3] != p->o || p->oh < 0 || p->ow < 0)
    FAIL("expected output (%lld, OH, OW, %lld), got (%lld, %lld, %lld, %lld)", (long long)p->n,
         (long long)p->o, (long long)y->dims[0], (long long)y->dims[1], (long long)y->dims[2],
         (long long)y->dims[3]);
  p->x = x->data, p->w = w->data, p->bias = b->data, p->out = y->data;
  p->residual = NULL;
  if (args == 4) {
    const XLA_FFI_Buffer *res = frame->args.args[3];
    if (res->rank != 4 || res->dims[0] != y->dims[0] || res->dims[1] != y->dims[1] ||
        res->dims[2] != y->dims[2] || res->dims[3] != y->dims[3])
      FAIL("expected a residual of the output's shape (%lld, %lld, %lld, %lld)",
           (long long)y->dims[0], (long long)y->dims[1], (long long)y->dims[2],
           (long long)y->dims[3]);
    p->residual = res->data;
  }
  return NULL;
}

XLA_FFI_Error *hybrix_conv2d_nhwc(XLA_FFI_CallFrame *frame) {
  const XLA_FFI_Api *api = frame->api;
  int execute;
  XLA_FFI_Error *error = begin_call(frame, &execute);
  if (error || !execute) return error;
  conv_t p;
  error = decode(frame, &p);
  if (error) return error;
  p.m = p.n * p.oh * p.ow;
  if (p.m == 0 || p.o == 0) return NULL;
  p.taps = p.kh * p.kw;
  p.k = p.taps * p.c;
  int64_t vectors = (p.o + VW - 1) / VW;
  p.nv = vectors < NV_MAX ? (int)vectors : NV_MAX;
  p.nr = p.nv * VW;
  p.mr = MR_FOR(p.nv);
  p.panels = (p.o + p.nr - 1) / p.nr;
  p.mblocks = (p.m + p.mr - 1) / p.mr;
  int64_t padded_o = p.panels * p.nr;
  int64_t workers = call_workers(api, frame->ctx, p.max_threads);
  /* NOTE: with a few panels per thread and a long K, each thread packs its own panels
   * (panel mode: a panel stays in its cache); else all threads share one packed weight and
   * split the output pixels */
  int prepacked = p.wlayout == 2;
  int panel_mode = p.panels >= 2 * workers && p.k * padded_o * 4 > SHARED_WEIGHT_BYTES;
  if (prepacked) {
    const XLA_FFI_Buffer *w = frame->args.args[1];
    if (w->dims[0] != p.panels || w->dims[1] != p.k || w->dims[2] != p.nr)
      FAIL("expected a packed weight of shape (%lld, %lld, %lld) for %lld filters, %lld taps "
           "and %lld channels, got (%lld, %lld, %lld)", (long long)p.panels, (long long)p.k,
           (long long)p.nr, (long long)p.o, (long long)p.taps, (long long)p.c,
           (long long)w->dims[0], (long long)w->dims[1], (long long)w->dims[2]);
  }
  size_t packed = panel_mode || prepacked ? 0 : (size_t)(p.panels * p.k * p.nr);
  size_t extra = (size_t)(padded_o + p.kw * p.c + VW); /* bias, zero row */
  float *scratch_buffer = grow(&scratch, &scratch_floats, packed + extra);
  if (!scratch_buffer)
    return fail(api, XLA_FFI_Error_Code_RESOURCE_EXHAUSTED,
                "hybrix native Convolution: out of memory for the packed weight");
  p.packed = prepacked ? (float *)p.w : scratch_buffer;
  p.bias_padded = scratch_buffer + packed;
  float *zero = p.bias_padded + padded_o;
  memset(p.bias_padded, 0, extra * sizeof(float));
  memcpy(p.bias_padded, p.bias, p.o * sizeof(float));
  p.zero = zero;
  atomic_init(&p.failed, 0);
  if (panel_mode) {
    parallel_for(api, frame->ctx, workers - 1, p.panels, panel_chunk, &p);
    if (atomic_load(&p.failed))
      return fail(api, XLA_FFI_Error_Code_RESOURCE_EXHAUSTED,
                  "hybrix native Convolution: out of memory for a packed weight panel");
    return NULL;
  }
  /* NOTE: about 8 chunks per thread balances uneven tiles without much claiming traffic */
  p.group = p.mblocks / (8 * workers);
  if (p.group < 1) p.group = 1;
  p.chunks = (p.mblocks + p.group - 1) / p.group;
  /* the caller works too: ask the pool for workers - 1 helpers */
  if (!prepacked) parallel_for(api, frame->ctx, workers - 1, p.panels * p.taps, pack_chunk, &p);
  parallel_for(api, frame->ctx, workers - 1, p.chunks, compute_chunk, &p);
  return NULL;
}

/* The width (floats) of the panels a weight of `filters` output channels is packed into:
 * a packed weight is (panels, taps * C, width), panel q holding filters q*width.. (zeros past
 * the last), row t*C + c tap t (row-major over the kept taps) and channel c. */
int64_t hybrix_conv_panel_width(int64_t filters) {
  int64_t vectors = (filters + VW - 1) / VW;
  return (vectors < NV_MAX ? vectors : NV_MAX) * VW;
}
