/* hybrix native CPU max pooling on NHWC data, a typed FFI custom call (api_version 1)
 * through XLA's plain C API, like conv.c.
 *
 * out[n, oh, ow, c] = max over taps (i, j) inside the image of x[n, oh*sh - pt + i, ow*sw - pl + j, c]
 * starting from the lowest finite float, as MXNet pads max pooling (a window of padding only
 * gives that value); padding is never copied (taps outside the image are skipped). Vectorized over channels; work: output rows over
 * XLA's thread pool. It replaces a padded copy of the input plus one strided slice per tap,
 * which XLA ran as two passes (the pad alone 0.1-0.7 ms after ResNet's 112x112x64 stem).
 */
#define KERNEL_NAME "Pooling"
#include <float.h>

#include "common.h"

/* the int64 array attribute `pool`; Q_THREADS: at most this many threads (0: the pool's) */
enum { Q_KH, Q_KW, Q_SH, Q_SW, Q_PT, Q_PL, Q_THREADS, Q_COUNT };

typedef struct {
  const float *x;
  float *out;
  int64_t n, h, w_in, c, oh, ow, kh, kw, sh, sw, pt, pl;
} pool_t;

static inline vec vmax(vec a, vec b) {
  ivec keep = a > b;
  return (vec)((keep & (ivec)a) | (~keep & (ivec)b));
}

/* channels [c0, c0 + VW) of the window rows [ih0, ih1) x columns [iw0, iw1) of image n */
static inline vec window_max(const pool_t *p, int64_t n, int64_t ih0, int64_t ih1, int64_t iw0,
                             int64_t iw1, int64_t c0) {
  vec acc = (vec){0} - FLT_MAX;
  for (int64_t ih = ih0; ih < ih1; ih++) {
    const float *row = p->x + ((n * p->h + ih) * p->w_in) * p->c + c0;
    for (int64_t iw = iw0; iw < iw1; iw++) {
      vec v = *(const vec_u *)(row + iw * p->c);
      acc = vmax(acc, v);
    }
  }
  return acc;
}

static void pool_row(void *arg, int64_t row) {
  const pool_t *p = arg;
  int64_t n = row / p->oh, oh = row % p->oh;
  int64_t ih0 = oh * p->sh - p->pt, ih1 = ih0 + p->kh;
  ih0 = ih0 < 0 ? 0 : ih0;
  ih1 = ih1 > p->h ? p->h : ih1;
  int64_t full = p->c / VW * VW;
  for (int64_t ow = 0; ow < p->ow; ow++) {
    int64_t iw0 = ow * p->sw - p->pl, iw1 = iw0 + p->kw;
    iw0 = iw0 < 0 ? 0 : iw0;
    iw1 = iw1 > p->w_in ? p->w_in : iw1;
    float *dst = p->out + (row * p->ow + ow) * p->c;
    for (int64_t c0 = 0; c0 < full; c0 += VW)
      *(vec_u *)(dst + c0) = window_max(p, n, ih0, ih1, iw0, iw1, c0);
    for (int64_t ci = full; ci < p->c; ci++) { /* channels past the last full vector */
      float best = -FLT_MAX;
      for (int64_t ih = ih0; ih < ih1; ih++)
        for (int64_t iw = iw0; iw < iw1; iw++) {
          float v = p->x[((n * p->h + ih) * p->w_in + iw) * p->c + ci];
          best = best > v ? best : v;
        }
      dst[ci] = best;
    }
  }
}

static XLA_FFI_Error *decode(XLA_FFI_CallFrame *frame, pool_t *p, int64_t *max_threads) {
  const XLA_FFI_Api *api = frame->api;
  const int64_t *q;
  XLA_FFI_Error *error = decode_frame_of(frame, 1, "pool", Q_COUNT, &q);
  if (error) return error;
  const XLA_FFI_Buffer *x = frame->args.args[0], *y = frame->rets.rets[0];
  if (x->rank != 4 || y->rank != 4)
    FAIL("expected data and output (N, H, W, C) of rank 4, got ranks %lld and %lld",
         (long long)x->rank, (long long)y->rank);
  p->n = x->dims[0], p->h = x->dims[1], p->w_in = x->dims[2], p->c = x->dims[3];
  p->oh = y->dims[1], p->ow = y->dims[2];
  p->kh = q[Q_KH], p->kw = q[Q_KW], p->sh = q[Q_SH], p->sw = q[Q_SW];
  p->pt = q[Q_PT], p->pl = q[Q_PL];
  *max_threads = q[Q_THREADS];
  if (y->dims[0] != p->n || y->dims[3] != p->c)
    FAIL("expected output (%lld, OH, OW, %lld), got (%lld, %lld, %lld, %lld)", (long long)p->n,
         (long long)p->c, (long long)y->dims[0], (long long)y->dims[1], (long long)y->dims[2],
         (long long)y->dims[3]);
  if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->pt < 0 || p->pl < 0)
    FAIL("bad window: kernel %lldx%lld, stride %lldx%lld, padding %lldx%lld", (long long)p->kh,
         (long long)p->kw, (long long)p->sh, (long long)p->sw, (long long)p->pt,
         (long long)p->pl);
  p->x = x->data, p->out = y->data;
  return NULL;
}

XLA_FFI_Error *hybrix_maxpool2d_nhwc(XLA_FFI_CallFrame *frame) {
  const XLA_FFI_Api *api = frame->api;
  int execute;
  XLA_FFI_Error *error = begin_call(frame, &execute);
  if (error || !execute) return error;
  pool_t p;
  int64_t max_threads;
  error = decode(frame, &p, &max_threads);
  if (error) return error;
  int64_t rows = p.n * p.oh;
  if (rows == 0 || p.ow == 0 || p.c == 0) return NULL;
  int64_t workers = call_workers(api, frame->ctx, max_threads);
  parallel_for(api, frame->ctx, workers - 1, rows, pool_row, &p);
  return NULL;
}
