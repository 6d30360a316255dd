/* hybrix native CPU depthwise convolution (groups == channels == filters) on NHWC data, a
 * typed FFI custom call (api_version 1) through XLA's plain C API, like conv.c.
 *
 * out[n, oh, ow, c] = bias[c] + sum over taps (i, j) of
 *                     x[n, oh * sh - pt + i * dh, ow * sw - pl + j * dw, c] * W[c, i, j]
 * Vectorized over channels (one vector of VW channels at a time, its KH x KW tap weights held
 * in registers for a whole output row), taps unrolled for 3x3 and 5x5 kernels. Padding is
 * never copied: a kernel row above or below the image reads a zero row, and only the output
 * columns whose taps cross the left or right edge check each tap. Channels past the last full
 * vector run a scalar loop. Work: (output row, channel range) chunks over XLA's thread pool;
 * bias and an optional ReLU are fused.
 */
#define KERNEL_NAME "depthwise Convolution"
#include "common.h"

/* the int64 array attribute `dw`; D_THREADS: at most this many threads (0: the pool's) */
enum { D_KH, D_KW, D_SH, D_SW, D_DH, D_DW, D_PT, D_PL, D_RELU, D_THREADS, D_COUNT };

typedef struct {
  const float *x, *w, *bias;
  float *out;
  int64_t n, h, w_in, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
  int relu;
  int64_t max_threads;
  int64_t cpad, vectors, parts, per_part; /* channels padded to VW; chunks per output row */
  int64_t ow_lo, ow_hi; /* output columns whose every tap column lies inside the image */
  float *packed;        /* taps x cpad: tap-major, channels contiguous (zero past c) */
  float *bias_padded;   /* cpad */
  const float *zero;    /* a zero input row: w_in * c (+ VW) floats */
} dw_t;

/* input row of kernel row i for output row oh of image n (the zero row outside the image) */
static inline const float *input_row(const dw_t *p, int64_t n, int64_t oh, int64_t i) {
  int64_t ih = oh * p->sh - p->pt + i * p->dh;
  if (ih < 0 || ih >= p->h) return p->zero;
  return p->x + (n * p->h + ih) * p->w_in * p->c;
}

static inline vec epilogue(const dw_t *p, vec acc, int64_t c0) {
  acc += *(const vec *)(p->bias_padded + c0);
  if (p->relu) acc = (vec)((ivec)acc & (acc > (vec){0}));
  return acc;
}

#define MAX_UNROLLED 5

/* channels [c0, c0 + VW) of one output row (rows[i]: the input row of kernel row i):
 * interior columns with every tap (weights in registers, taps unrolled once KH, KW are
 * constants), the columns whose window crosses the left or right edge tap by tap */
static inline __attribute__((always_inline)) void span(const dw_t *p, const float *const *rows,
                                                       float *dst, int64_t c0, const int KH,
                                                       const int KW) {
  const int64_t c = p->c, step = p->dw * c, sw = p->sw, pl = p->pl;
  vec wv[MAX_UNROLLED * MAX_UNROLLED]; /* NOTE: fixed sizes; KH, KW are constants once inlined */
  for (int t = 0; t < KH * KW; t++) wv[t] = *(const vec *)(p->packed + t * p->cpad + c0);
  const float *in[MAX_UNROLLED];
  for (int i = 0; i < KH; i++) in[i] = rows[i] + c0;
  for (int64_t ow = 0; ow < p->ow; ow++) {
    int64_t iw = ow * sw - pl;
    vec acc = (vec){0};
    if (ow >= p->ow_lo && ow < p->ow_hi) {
      for (int i = 0; i < KH; i++) {
        const float *src = in[i] + iw * c;
        for (int j = 0; j < KW; j++) acc += *(const vec_u *)(src + j * step) * wv[i * KW + j];
      }
    } else {
      for (int j = 0; j < KW; j++) {
        int64_t col = iw + j * p->dw;
        if (col < 0 || col >= p->w_in) continue;
        for (int i = 0; i < KH; i++) acc += *(const vec_u *)(in[i] + col * c) * wv[i * KW + j];
      }
    }
    *(vec_u *)(dst + ow * c + c0) = epilogue(p, acc, c0);
  }
}

static void span_3x3(const dw_t *p, const float *const *rows, float *dst, int64_t c0) {
  span(p, rows, dst, c0, 3, 3);
}

static void span_5x5(const dw_t *p, const float *const *rows, float *dst, int64_t c0) {
  span(p, rows, dst, c0, 5, 5);
}

/* any other kernel: one vector of channels, weights read from the packed buffer */
static void span_any(const dw_t *p, const float *const *rows, float *dst, int64_t c0) {
  const int64_t c = p->c;
  for (int64_t ow = 0; ow < p->ow; ow++) {
    vec acc = (vec){0};
    for (int64_t j = 0; j < p->kw; j++) {
      int64_t col = ow * p->sw - p->pl + j * p->dw;
      if (col < 0 || col >= p->w_in) continue;
      for (int64_t i = 0; i < p->kh; i++)
        acc += *(const vec_u *)(rows[i] + col * c + c0) *
               *(const vec *)(p->packed + (i * p->kw + j) * p->cpad + c0);
    }
    *(vec_u *)(dst + ow * c + c0) = epilogue(p, acc, c0);
  }
}

/* any kernel, any channel range [c0, c1) (the tail past the last full vector): scalar */
static void span_scalar(const dw_t *p, const float *const *rows, float *dst, int64_t c0,
                        int64_t c1) {
  const int64_t c = p->c;
  for (int64_t ow = 0; ow < p->ow; ow++) {
    float acc[VW] = {0};
    for (int64_t j = 0; j < p->kw; j++) {
      int64_t col = ow * p->sw - p->pl + j * p->dw;
      if (col < 0 || col >= p->w_in) continue;
      for (int64_t i = 0; i < p->kh; i++) {
        const float *src = rows[i] + col * c, *w = p->packed + (i * p->kw + j) * p->cpad;
        for (int64_t ci = c0; ci < c1; ci++) acc[ci - c0] += src[ci] * w[ci];
      }
    }
    for (int64_t ci = c0; ci < c1; ci++) {
      float value = acc[ci - c0] + p->bias_padded[ci];
      dst[ow * c + ci] = p->relu && !(value > 0.0f) ? 0.0f : value;
    }
  }
}

/* chunk: output row (n, oh) = chunk / parts, its channel vectors of part chunk % parts */
#define MAX_ROWS 64
static void row_chunk(void *arg, int64_t chunk) {
  const dw_t *p = arg;
  int64_t row = chunk / p->parts, part = chunk % p->parts;
  int64_t n = row / p->oh, oh = row % p->oh;
  const float *rows[MAX_ROWS];
  for (int64_t i = 0; i < p->kh; i++) rows[i] = input_row(p, n, oh, i);
  float *dst = p->out + row * p->ow * p->c;
  int64_t v0 = part * p->per_part, v1 = v0 + p->per_part;
  if (v1 > p->vectors) v1 = p->vectors;
  for (int64_t v = v0; v < v1; v++) {
    int64_t c0 = v * VW;
    if (c0 + VW > p->c) {
      span_scalar(p, rows, dst, c0, p->c);
    } else if (p->kh == 3 && p->kw == 3) {
      span_3x3(p, rows, dst, c0);
    } else if (p->kh == 5 && p->kw == 5) {
      span_5x5(p, rows, dst, c0);
    } else {
      span_any(p, rows, dst, c0);
    }
  }
}

/* -- the FFI handler --------------------------------------------------------------------- */
static _Thread_local float *dw_scratch;
static _Thread_local size_t dw_scratch_floats;
/* NOTE: never written after it is cleared, so it is cleared only when it grows */
static _Thread_local float *zero_row;
static _Thread_local size_t zero_floats;

static XLA_FFI_Error *decode(XLA_FFI_CallFrame *frame, dw_t *p) {
  const XLA_FFI_Api *api = frame->api;
  const int64_t *q;
  XLA_FFI_Error *error = decode_frame(frame, "dw", D_COUNT, &q);
  if (error) return error;
  const XLA_FFI_Buffer *x = frame->args.args[0], *w = frame->args.args[1];
  const XLA_FFI_Buffer *b = frame->args.args[2], *y = frame->rets.rets[0];
  if (x->rank != 4) FAIL("expected data (N, H, W, C) of rank 4, got rank %lld", (long long)x->rank);
  if (w->rank != 3) FAIL("expected a weight (C, KH, KW) of rank 3, got rank %lld",
                         (long long)w->rank);
  p->n = x->dims[0], p->h = x->dims[1], p->w_in = x->dims[2], p->c = x->dims[3];
  p->kh = q[D_KH], p->kw = q[D_KW], p->sh = q[D_SH], p->sw = q[D_SW];
  p->dh = q[D_DH], p->dw = q[D_DW], p->pt = q[D_PT], p->pl = q[D_PL];
  p->relu = q[D_RELU] != 0, p->max_threads = q[D_THREADS];
  if (w->dims[0] != p->c || w->dims[1] != p->kh || w->dims[2] != p->kw)
    FAIL("data has %lld channels and the kernel is %lldx%lld, but the weight is (%lld, %lld, "
         "%lld)", (long long)p->c, (long long)p->kh, (long long)p->kw, (long long)w->dims[0],
         (long long)w->dims[1], (long long)w->dims[2]);
  if (b->rank != 1 || b->dims[0] != p->c) FAIL("expected a bias of shape (%lld,)", (long long)p->c);
  if (p->kh < 1 || p->kw < 1 || p->kh > MAX_ROWS || p->sh < 1 || p->sw < 1 || p->dh < 1 ||
      p->dw < 1)
    FAIL("bad window: kernel %lldx%lld (at most %d rows), stride %lldx%lld, dilation %lldx%lld",
         (long long)p->kh, (long long)p->kw, MAX_ROWS, (long long)p->sh, (long long)p->sw,
         (long long)p->dh, (long long)p->dw);
  p->oh = y->dims[1], p->ow = y->dims[2];
  if (y->rank != 4 || y->dims[0] != p->n || y->dims[3] != p->c || p->oh < 0 || p->ow < 0)
    FAIL("expected output (%lld, OH, OW, %lld)", (long long)p->n, (long long)p->c);
  p->x = x->data, p->w = w->data, p->bias = b->data, p->out = y->data;
  return NULL;
}

/* first output column whose window starts inside, one past the last that ends inside */
static void interior(dw_t *p) {
  int64_t lo = p->pl > 0 ? (p->pl + p->sw - 1) / p->sw : 0;
  int64_t last = p->w_in - 1 - (p->kw - 1) * p->dw + p->pl; /* last valid window start + pl */
  int64_t hi = last < 0 ? 0 : last / p->sw + 1;
  if (hi > p->ow) hi = p->ow;
  if (lo > hi) lo = hi;
  p->ow_lo = lo, p->ow_hi = hi;
}

XLA_FFI_Error *hybrix_dwconv2d_nhwc(XLA_FFI_CallFrame *frame) {
  const XLA_FFI_Api *api = frame->api;
  int execute;
  XLA_FFI_Error *error = begin_call(frame, &execute);
  if (error || !execute) return error;
  dw_t p;
  error = decode(frame, &p);
  if (error) return error;
  int64_t rows = p.n * p.oh, taps = p.kh * p.kw;
  if (rows == 0 || p.ow == 0 || p.c == 0) return NULL;
  p.vectors = (p.c + VW - 1) / VW;
  p.cpad = p.vectors * VW;
  size_t floats = (size_t)((taps + 1) * p.cpad), zeros = (size_t)(p.w_in * p.c + VW);
  size_t had_zeros = zero_floats;
  float *buffer = grow(&dw_scratch, &dw_scratch_floats, floats);
  float *zero = grow(&zero_row, &zero_floats, zeros);
  if (!buffer || !zero)
    return fail(api, XLA_FFI_Error_Code_RESOURCE_EXHAUSTED,
                "hybrix native depthwise Convolution: out of memory for the packed weight");
  if (zero_floats != had_zeros) memset(zero, 0, zero_floats * sizeof(float));
  p.packed = buffer;
  p.bias_padded = buffer + taps * p.cpad;
  p.zero = zero;
  /* NOTE: tap-outer: the packed rows lie cpad floats apart (4 KB at 1024 channels, one L1
   * set), so writing a channel's taps in turn missed L1 on every store */
  for (int64_t t = 0; t < taps; t++)
    for (int64_t ci = 0; ci < p.c; ci++) p.packed[t * p.cpad + ci] = p.w[ci * taps + t];
  for (int64_t t = 0; t <= taps; t++) /* the channels past c, and the bias (row taps) */
    for (int64_t ci = p.c; ci < p.cpad; ci++) p.packed[t * p.cpad + ci] = 0.0f;
  memcpy(p.bias_padded, p.bias, p.c * sizeof(float));
  interior(&p);
  int64_t workers = call_workers(api, frame->ctx, p.max_threads);
  /* NOTE: few output rows (7x7 maps at batch 1) leave threads idle: rows are then split by
   * channel too, for about 4 chunks per thread */
  p.parts = (4 * workers + rows - 1) / rows;
  if (p.parts > p.vectors) p.parts = p.vectors;
  if (p.parts < 1) p.parts = 1;
  p.per_part = (p.vectors + p.parts - 1) / p.parts;
  p.parts = (p.vectors + p.per_part - 1) / p.per_part;
  parallel_for(api, frame->ctx, workers - 1, rows * p.parts, row_chunk, &p);
  return NULL;
}
