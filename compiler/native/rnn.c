/* hybrix native CPU fused RNN (MXNet's RNN op: rnn_relu, rnn_tanh, lstm, gru; stacked layers,
 * bidirectional), a typed FFI custom call (api_version 1) through XLA's plain C API, like
 * conv.c.
 *
 * Inputs: data (T, N, C), the flat parameter vector in MXNet's packing (ir/ops/rnn.py: every
 * W_x (G*H, in) and W_h (G*H, H) per layer and direction, then every b_x and b_h), state
 * (L*D, N, H) and, for lstm, the cell state. Results: output (T, N, D*H), the final states
 * (L*D, N, H) and, for lstm, the final cells. Gates are i, f, g, o (lstm) and r, z, n (gru,
 * n = tanh(x_n + r * (W_hn h + b_hn)), as cuDNN).
 *
 * Per layer and direction: the input projections of every step at once, then the recurrence,
 * one step after the other, on one thread (the input projection is split over XLA's pool when
 * it is large). XLA runs each step's two small dots and the gate arithmetic as separate
 * thunks with a fixed cost each, which is what small RNNs spend their time on.
 * tanh is Eigen's rational approximation (float32, within a few ulp), sigmoid(x) is
 * 0.5 + 0.5 tanh(x / 2).
 */
#define KERNEL_NAME "RNN"
#include "common.h"

/* the int64 array attribute `rnn`; R_THREADS: at most this many threads (0: the pool's);
 * R_PACKED: the weights arrive transposed (W_x^T (in, G*H), W_h^T (H, G*H) per layer and
 * direction, biases as before: hybrix_rnn_pack's layout, for constant parameters packed
 * once ahead of the calls) */
enum { R_MODE, R_HIDDEN, R_LAYERS, R_DIRECTIONS, R_THREADS, R_PACKED, R_COUNT };
enum { MODE_RELU, MODE_TANH, MODE_LSTM, MODE_GRU };

static const int GATES[] = {1, 1, 4, 3};
/* rows of the input projection per parallel chunk */
#define PROJECT_ROWS 16

typedef struct {
  int mode, packed;
  int64_t steps, batch, input, hidden, layers, directions, gates;
  const float *data, *params, *state, *cell;
  float *out, *state_out, *cell_out;
} rnn_t;

static inline float tanh_approx(float x) {
  const float limit = 7.90531110763549805f;
  x = x < -limit ? -limit : x > limit ? limit : x;
  float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

static inline float sigmoid_approx(float x) { return 0.5f + 0.5f * tanh_approx(0.5f * x); }

/* acc[r, :cols] += a[r, :k] @ b[:k, :cols] for r < rows (a's rows `lda` apart) */
static void gemm_acc(float *restrict acc, const float *restrict a, int64_t lda,
                     const float *restrict b, int64_t rows, int64_t k, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    float *restrict row = acc + r * cols;
    const float *x = a + r * lda;
    for (int64_t i = 0; i < k; i++) {
      float v = x[i];
      const float *restrict w = b + i * cols;
      for (int64_t j = 0; j < cols; j++) row[j] += v * w[j];
    }
  }
}

/* dst (k, rows) = src (rows, k) transposed, in 32 x 32 blocks (a row at a time, the writes
 * strode through the whole destination: H=256 LSTM weights took ~2 ms per call) */
static void transpose(float *restrict dst, const float *restrict src, int64_t rows, int64_t k) {
  for (int64_t r0 = 0; r0 < rows; r0 += 32)
    for (int64_t i0 = 0; i0 < k; i0 += 32) {
      int64_t r1 = r0 + 32 < rows ? r0 + 32 : rows, i1 = i0 + 32 < k ? i0 + 32 : k;
      for (int64_t r = r0; r < r1; r++)
        for (int64_t i = i0; i < i1; i++) dst[i * rows + r] = src[r * k + i];
    }
}

/* one layer and direction's weights: W_x^T (in, G*H), W_h^T (H, G*H) and the biases */
typedef struct {
  const float *wx_t, *wh_t;
  const float *bx, *bh;
  int64_t input;
} weights_t;

typedef struct {
  const rnn_t *p;
  const weights_t *w;
  const float *x; /* (T * N, in), rows `in` apart */
  float *gx;      /* (T * N, G*H) */
} project_t;

/* rows [chunk * PROJECT_ROWS, ...) of gx = x W_x^T + b_x (+ b_h, except gru: its n gate needs
 * b_hn inside r * (...)) */
static void project_chunk(void *arg, int64_t chunk) {
  const project_t *q = arg;
  const rnn_t *p = q->p;
  int64_t cols = p->gates * p->hidden, total = p->steps * p->batch;
  int64_t r0 = chunk * PROJECT_ROWS, r1 = r0 + PROJECT_ROWS > total ? total : r0 + PROJECT_ROWS;
  for (int64_t r = r0; r < r1; r++) {
    float *row = q->gx + r * cols;
    for (int64_t j = 0; j < cols; j++)
      row[j] = q->w->bx[j] + (p->mode == MODE_GRU ? 0.0f : q->w->bh[j]);
  }
  gemm_acc(q->gx + r0 * cols, q->x + r0 * q->w->input, q->w->input, q->w->wx_t, r1 - r0,
           q->w->input, cols);
}

/* the gate arithmetic of one step for batch row n: gates = x projection + h projection */
static void cell_row(const rnn_t *p, const float *restrict gx, float *restrict gh,
                     float *restrict h, float *restrict c, float *restrict y) {
  int64_t hs = p->hidden;
  switch (p->mode) {
    case MODE_RELU:
      for (int64_t j = 0; j < hs; j++) {
        float v = gx[j] + gh[j];
        h[j] = y[j] = v > 0 ? v : 0;
      }
      break;
    case MODE_TANH:
      for (int64_t j = 0; j < hs; j++) h[j] = y[j] = tanh_approx(gx[j] + gh[j]);
      break;
    case MODE_LSTM:
      for (int64_t j = 0; j < hs; j++) {
        float i = sigmoid_approx(gx[j] + gh[j]);
        float f = sigmoid_approx(gx[hs + j] + gh[hs + j]);
        float g = tanh_approx(gx[2 * hs + j] + gh[2 * hs + j]);
        float o = sigmoid_approx(gx[3 * hs + j] + gh[3 * hs + j]);
        float cell = f * c[j] + i * g;
        c[j] = cell;
        h[j] = y[j] = o * tanh_approx(cell);
      }
      break;
    default: /* MODE_GRU */
      for (int64_t j = 0; j < hs; j++) {
        float r = sigmoid_approx(gx[j] + gh[j]);
        float z = sigmoid_approx(gx[hs + j] + gh[hs + j]);
        float n = tanh_approx(gx[2 * hs + j] + r * gh[2 * hs + j]);
        h[j] = y[j] = (1.0f - z) * n + z * h[j];
      }
  }
}

/* The recurrence of one layer and direction: h (N, H) and c (N, H) hold the initial states and
 * end with the final ones; y (T, N, D*H) receives this direction's H columns. */
static void recur(const rnn_t *p, const weights_t *w, const float *gx, float *gh, float *h,
                  float *c, float *y, int reverse) {
  int64_t cols = p->gates * p->hidden, hs = p->hidden, width = p->directions * hs;
  for (int64_t s = 0; s < p->steps; s++) {
    int64_t t = reverse ? p->steps - 1 - s : s;
    for (int64_t n = 0; n < p->batch; n++) {
      float *row = gh + n * cols;
      for (int64_t j = 0; j < cols; j++) row[j] = p->mode == MODE_GRU ? w->bh[j] : 0.0f;
    }
    gemm_acc(gh, h, hs, w->wh_t, p->batch, hs, cols);
    for (int64_t n = 0; n < p->batch; n++)
      cell_row(p, gx + (t * p->batch + n) * cols, gh + n * cols, h + n * hs,
               c ? c + n * hs : NULL, y + (t * p->batch + n) * width);
  }
}

static _Thread_local float *rnn_scratch;
static _Thread_local size_t rnn_floats;

static XLA_FFI_Error *run(const XLA_FFI_Api *api, XLA_FFI_ExecutionContext *ctx, const rnn_t *p,
                          int64_t workers) {
  int64_t hs = p->hidden, cols = p->gates * hs, width = p->directions * hs;
  int64_t widest = p->input > width ? p->input : width, rows = p->steps * p->batch;
  int64_t between = p->layers > 1 ? rows * width : 0; /* a layer's output, the next's input */
  size_t weights = p->packed ? 0 : (size_t)((widest + hs) * cols);
  size_t floats = weights + (size_t)(rows * cols + p->batch * cols + 2 * between);
  float *scratch = grow(&rnn_scratch, &rnn_floats, floats);
  if (!scratch) FAIL("cannot allocate %zu bytes of scratch", floats * sizeof(float));
  float *wx_t = scratch, *wh_t = wx_t + widest * cols, *gx = scratch + weights;
  float *gh = gx + rows * cols, *buffers[2] = {gh + p->batch * cols, gh + p->batch * cols + between};
  size_t state_floats = (size_t)(p->batch * hs);
  const float *weight = p->params;
  const float *bias = p->params;
  for (int64_t l = 0; l < p->layers; l++) /* the biases follow every weight */
    bias += p->directions * cols * ((l ? width : p->input) + hs);
  const float *x = p->data;
  for (int64_t l = 0; l < p->layers; l++) {
    int64_t input = l ? width : p->input;
    float *y = l == p->layers - 1 ? p->out : buffers[l % 2];
    for (int64_t d = 0; d < p->directions; d++) {
      int64_t index = l * p->directions + d;
      weights_t w = {wx_t, wh_t, bias + 2 * index * cols, bias + (2 * index + 1) * cols, input};
      if (p->packed) {
        w.wx_t = weight, w.wh_t = weight + cols * input;
      } else {
        transpose(wx_t, weight, cols, input);
        transpose(wh_t, weight + cols * input, cols, hs);
      }
      weight += cols * (input + hs);
      project_t q = {p, &w, x, gx};
      int64_t chunks = (rows + PROJECT_ROWS - 1) / PROJECT_ROWS;
      int64_t helpers = rows * cols * input < (1 << 20) ? 0 : workers - 1;
      parallel_for(api, ctx, helpers, chunks, project_chunk, &q);
      float *c = p->cell_out ? p->cell_out + index * state_floats : NULL;
      recur(p, &w, gx, gh, p->state_out + index * state_floats, c, y + d * hs, d == 1);
    }
    x = y;
  }
  return NULL;
}

static XLA_FFI_Error *buffer_of(const XLA_FFI_Api *api, const XLA_FFI_Buffer *b, const char *what,
                                int64_t rank, const int64_t *dims) {
  if (b->dtype != XLA_FFI_DataType_F32) FAIL("expected float32 %s", what);
  if (b->rank != rank) FAIL("expected %s of rank %lld, got %lld", what, (long long)rank,
                            (long long)b->rank);
  for (int64_t i = 0; i < rank; i++)
    if (dims[i] >= 0 && b->dims[i] != dims[i])
      FAIL("%s: dimension %lld is %lld, expected %lld", what, (long long)i,
           (long long)b->dims[i], (long long)dims[i]);
  return NULL;
}

#define CHECK(call)                          \
  do {                                       \
    XLA_FFI_Error *error_ = (call);          \
    if (error_) return error_;               \
  } while (0)

static XLA_FFI_Error *decode(XLA_FFI_CallFrame *frame, rnn_t *p, int64_t *max_threads) {
  const XLA_FFI_Api *api = frame->api;
  const int64_t *q;
  CHECK(int64_attr(frame, "rnn", R_COUNT, &q));
  if (q[R_MODE] < MODE_RELU || q[R_MODE] > MODE_GRU) FAIL("unknown mode %lld", (long long)q[R_MODE]);
  p->mode = (int)q[R_MODE];
  p->hidden = q[R_HIDDEN], p->layers = q[R_LAYERS], p->directions = q[R_DIRECTIONS];
  p->gates = GATES[p->mode];
  p->packed = q[R_PACKED] != 0;
  *max_threads = q[R_THREADS];
  if (p->hidden < 1 || p->layers < 1 || p->directions < 1 || p->directions > 2)
    FAIL("bad sizes: hidden %lld, layers %lld, directions %lld", (long long)p->hidden,
         (long long)p->layers, (long long)p->directions);
  int64_t lstm = p->mode == MODE_LSTM;
  if (frame->args.size != 3 + lstm || frame->rets.size != 2 + lstm)
    FAIL("mode %s takes %lld arguments and %lld results, got %lld and %lld",
         lstm ? "lstm" : "rnn_relu/rnn_tanh/gru", (long long)(3 + lstm), (long long)(2 + lstm),
         (long long)frame->args.size, (long long)frame->rets.size);
  for (int64_t i = 0; i < frame->args.size; i++)
    if (frame->args.types[i] != XLA_FFI_ArgType_BUFFER) FAIL("argument %lld is not a buffer", (long long)i);
  for (int64_t i = 0; i < frame->rets.size; i++)
    if (frame->rets.types[i] != XLA_FFI_RetType_BUFFER) FAIL("result %lld is not a buffer", (long long)i);
  const XLA_FFI_Buffer *data = frame->args.args[0];
  CHECK(buffer_of(api, data, "data (T, N, C)", 3, (int64_t[]){-1, -1, -1}));
  p->steps = data->dims[0], p->batch = data->dims[1], p->input = data->dims[2];
  int64_t cols = p->gates * p->hidden, width = p->directions * p->hidden, size = 0;
  for (int64_t l = 0; l < p->layers; l++)
    size += p->directions * cols * ((l ? width : p->input) + p->hidden + 2);
  int64_t states[] = {p->layers * p->directions, p->batch, p->hidden};
  CHECK(buffer_of(api, frame->args.args[1], "parameters", 1, (int64_t[]){size}));
  CHECK(buffer_of(api, frame->args.args[2], "state", 3, states));
  CHECK(buffer_of(api, frame->rets.rets[0], "output", 3,
                  (int64_t[]){p->steps, p->batch, width}));
  CHECK(buffer_of(api, frame->rets.rets[1], "final state", 3, states));
  if (lstm) {
    CHECK(buffer_of(api, frame->args.args[3], "state_cell", 3, states));
    CHECK(buffer_of(api, frame->rets.rets[2], "final cell", 3, states));
  }
  p->data = data->data;
  p->params = ((const XLA_FFI_Buffer *)frame->args.args[1])->data;
  p->state = ((const XLA_FFI_Buffer *)frame->args.args[2])->data;
  p->cell = lstm ? ((const XLA_FFI_Buffer *)frame->args.args[3])->data : NULL;
  p->out = ((const XLA_FFI_Buffer *)frame->rets.rets[0])->data;
  p->state_out = ((const XLA_FFI_Buffer *)frame->rets.rets[1])->data;
  p->cell_out = lstm ? ((const XLA_FFI_Buffer *)frame->rets.rets[2])->data : NULL;
  return NULL;
}

XLA_FFI_Error *hybrix_rnn(XLA_FFI_CallFrame *frame) {
  const XLA_FFI_Api *api = frame->api;
  int execute;
  XLA_FFI_Error *error = begin_call(frame, &execute);
  if (error || !execute) return error;
  rnn_t p;
  int64_t max_threads;
  error = decode(frame, &p, &max_threads);
  if (error) return error;
  /* the recurrence updates the final states in place, from the initial ones */
  size_t states = (size_t)(p.layers * p.directions * p.batch * p.hidden) * sizeof(float);
  memcpy(p.state_out, p.state, states);
  if (p.cell) memcpy(p.cell_out, p.cell, states);
  if (p.steps == 0 || p.batch == 0) return NULL;
  return run(api, frame->ctx, &p, call_workers(api, frame->ctx, max_threads));
}
