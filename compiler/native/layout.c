/* hybrix native CPU layout change: NCHW -> NHWC for images of a few channels (a network's
 * input, transposed into its channels-last stem), a typed FFI custom call (api_version 1)
 * through XLA's plain C API, like conv.c.
 *
 * out[n, h, w, c] = x[n, c, h, w]. XLA's loop for this transpose writes 3-float pixels one
 * element at a time: 50-80 us for a 224x224 RGB image, in front of every ResNet and
 * MobileNet at batch 1. Here a block of pixels is read as C channel streams and written
 * interleaved, C a constant per specialized loop (1-4) so the compiler vectorizes the
 * interleave. Work: pixel ranges over XLA's thread pool.
 */
#define KERNEL_NAME "transpose"
#include "common.h"

/* the int64 array attribute `layout`; L_THREADS: at most this many threads (0: the pool's) */
enum { L_THREADS, L_COUNT };

#define MAX_CHANNELS 4
#define CHUNK_PIXELS 8192 /* 32 KB of output per channel: big enough to outweigh a claim */

typedef struct {
  const float *x;
  float *out;
  int64_t c, pixels, chunks_per_image; /* pixels: H * W */
} layout_t;

static inline __attribute__((always_inline)) void interleave(const float *src, int64_t stride,
                                                             float *dst, int64_t count,
                                                             const int C) {
  for (int64_t p = 0; p < count; p++)
    for (int c = 0; c < C; c++) dst[p * C + c] = src[c * stride + p];
}

static void layout_chunk(void *arg, int64_t chunk) {
  const layout_t *q = arg;
  int64_t n = chunk / q->chunks_per_image;
  int64_t p0 = chunk % q->chunks_per_image * CHUNK_PIXELS;
  int64_t count = q->pixels - p0 < CHUNK_PIXELS ? q->pixels - p0 : CHUNK_PIXELS;
  const float *src = q->x + n * q->c * q->pixels + p0;
  float *dst = q->out + (n * q->pixels + p0) * q->c;
  switch (q->c) {
    case 1: interleave(src, q->pixels, dst, count, 1); break;
    case 2: interleave(src, q->pixels, dst, count, 2); break;
    case 3: interleave(src, q->pixels, dst, count, 3); break;
    default: interleave(src, q->pixels, dst, count, 4); break;
  }
}

XLA_FFI_Error *hybrix_nchw_to_nhwc(XLA_FFI_CallFrame *frame) {
  const XLA_FFI_Api *api = frame->api;
  int execute;
  XLA_FFI_Error *error = begin_call(frame, &execute);
  if (error || !execute) return error;
  const int64_t *params;
  error = decode_frame_of(frame, 1, "layout", L_COUNT, &params);
  if (error) return error;
  const XLA_FFI_Buffer *x = frame->args.args[0], *y = frame->rets.rets[0];
  if (x->rank != 4 || y->rank != 4)
    FAIL("expected data (N, C, H, W) and output (N, H, W, C), got ranks %lld and %lld",
         (long long)x->rank, (long long)y->rank);
  int64_t n = x->dims[0], c = x->dims[1], h = x->dims[2], w = x->dims[3];
  if (y->dims[0] != n || y->dims[1] != h || y->dims[2] != w || y->dims[3] != c)
    FAIL("expected output (%lld, %lld, %lld, %lld), got (%lld, %lld, %lld, %lld)",
         (long long)n, (long long)h, (long long)w, (long long)c, (long long)y->dims[0],
         (long long)y->dims[1], (long long)y->dims[2], (long long)y->dims[3]);
  if (c < 1 || c > MAX_CHANNELS)
    FAIL("expected 1 to %d channels, got %lld", MAX_CHANNELS, (long long)c);
  layout_t q = {x->data, y->data, c, h * w, (h * w + CHUNK_PIXELS - 1) / CHUNK_PIXELS};
  int64_t chunks = n * q.chunks_per_image;
  if (chunks == 0) return NULL;
  int64_t workers = call_workers(api, frame->ctx, params[L_THREADS]);
  parallel_for(api, frame->ctx, workers - 1, chunks, layout_chunk, &q);
  return NULL;
}
