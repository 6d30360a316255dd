/* hybrix native CPU kernels: what every kernel source shares. The vector type (GCC vector
 * extensions: zmm registers under AVX-512, ymm under AVX2, 4 floats elsewhere), a parallel for
 * over XLA's intra-op thread pool (the FFI ThreadPool API), aligned growing scratch buffers and
 * FFI errors. Everything is static: each source gets its own copy.
 * A source defines KERNEL_NAME (its op, for error messages) before including this. */
#ifndef HYBRIX_NATIVE_COMMON_H
#define HYBRIX_NATIVE_COMMON_H

#define _GNU_SOURCE /* sched_getcpu */
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xla/ffi/api/c_api.h"

#if defined(__AVX512F__)
#define VW 16 /* floats per vector */
#elif defined(__AVX__)
#define VW 8
#else
#define VW 4
#endif

typedef float vec __attribute__((vector_size(VW * 4)));
typedef float vec_u __attribute__((vector_size(VW * 4), aligned(4)));
typedef int32_t ivec __attribute__((vector_size(VW * 4)));

/* -- parallel for over XLA's intra-op pool ---------------------------------------------- */
#define SPINS_BEFORE_YIELD 256 /* pause instructions: a few microseconds */
typedef struct {
  atomic_ullong ends; /* front << 32 | back: chunks [front, back) are left */
  atomic_llong done;
  atomic_int refs;
  int64_t total;
  void (*fn)(void *, int64_t);
  void *arg;
} job_t;

/* Claim chunks until none is left: from the front on even CPUs, from the back on odd ones.
 * NOTE: consecutive kernels split their outputs alike (chunks are output rows or pixel
 * ranges), so a core tends to read what it wrote in the layer before, from its own L2 */
static void job_drain(job_t *job) {
  int cpu = sched_getcpu();
  int back = cpu > 0 && (cpu & 1);
  uint64_t w = atomic_load(&job->ends);
  for (;;) {
    uint64_t front = w >> 32, end = w & 0xffffffffu;
    if (front >= end) return;
    uint64_t claimed = back ? w - 1 : w + (1ull << 32);
    if (!atomic_compare_exchange_weak(&job->ends, &w, claimed)) continue;
    job->fn(job->arg, (int64_t)(back ? end - 1 : front));
    atomic_fetch_add(&job->done, 1);
    w = atomic_load(&job->ends);
  }
}

static void job_release(job_t *job) {
  if (atomic_fetch_sub(&job->refs, 1) == 1) free(job);
}

static void job_task(void *data) {
  /* NOTE: a helper may start after every chunk was taken (and the caller returned): it
   * then touches only the job, which lives until its last reference is released */
  job_t *job = data;
  job_drain(job);
  job_release(job);
}

static int64_t pool_threads(const XLA_FFI_Api *api, XLA_FFI_ExecutionContext *ctx) {
  if (api->struct_size < XLA_FFI_STRUCT_SIZE(XLA_FFI_Api, XLA_FFI_ThreadPool_NumThreads))
    return 0;
  int64_t threads = 0;
  XLA_FFI_ThreadPool_NumThreads_Args args = {XLA_FFI_ThreadPool_NumThreads_Args_STRUCT_SIZE,
                                             NULL, ctx, &threads};
  XLA_FFI_Error *error = api->XLA_FFI_ThreadPool_NumThreads(&args);
  if (error) {
    XLA_FFI_Error_Destroy_Args destroy = {XLA_FFI_Error_Destroy_Args_STRUCT_SIZE, NULL, error};
    api->XLA_FFI_Error_Destroy(&destroy);
    return 0;
  }
  return threads;
}

/* The threads a call uses (the caller counts as one): the pool's, at most `max_threads` when
 * that is positive (HYBRIX_NATIVE_THREADS). */
static int64_t call_workers(const XLA_FFI_Api *api, XLA_FFI_ExecutionContext *ctx,
                            int64_t max_threads) {
  int64_t threads = pool_threads(api, ctx);
  int64_t workers = threads > 0 ? threads : 1;
  return max_threads > 0 && workers > max_threads ? max_threads : workers;
}

static void parallel_for(const XLA_FFI_Api *api, XLA_FFI_ExecutionContext *ctx, int64_t helpers,
                         int64_t total, void (*fn)(void *, int64_t), void *arg) {
  if (helpers > total - 1) helpers = total - 1;
  if (helpers <= 0 || total >= 0xffffffffLL) {
    for (int64_t i = 0; i < total; i++) fn(arg, i);
    return;
  }
  job_t *job = malloc(sizeof(job_t));
  if (!job) {
    for (int64_t i = 0; i < total; i++) fn(arg, i);
    return;
  }
  atomic_init(&job->ends, (uint64_t)total);
  atomic_init(&job->done, 0);
  atomic_init(&job->refs, 1);
  job->total = total;
  job->fn = fn;
  job->arg = arg;
  for (int64_t i = 0; i < helpers; i++) {
    atomic_fetch_add(&job->refs, 1);
    XLA_FFI_ThreadPool_Schedule_Args args = {XLA_FFI_ThreadPool_Schedule_Args_STRUCT_SIZE, NULL,
                                             ctx, job_task, job};
    XLA_FFI_Error *error = api->XLA_FFI_ThreadPool_Schedule(&args);
    if (error) {
      XLA_FFI_Error_Destroy_Args destroy = {XLA_FFI_Error_Destroy_Args_STRUCT_SIZE, NULL, error};
      api->XLA_FFI_Error_Destroy(&destroy);
      atomic_fetch_sub(&job->refs, 1);
      break;
    }
  }
  job_drain(job);
  /* NOTE: only chunks a helper already claimed are left. Spin briefly, then yield: XLA runs
   * independent thunks at once (a ResNet block's two branches), so callers and helpers can
   * outnumber the cores, and a spinning caller would hold the core its helper waits for */
  for (int64_t spins = 0; atomic_load(&job->done) < total; spins++) {
    if (spins < SPINS_BEFORE_YIELD) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      sched_yield();
    }
  }
  job_release(job);
}

/* -- scratch: growing 64-byte-aligned buffers (one per calling thread and use) ------------- */
static float *grow(float **buffer, size_t *size, size_t floats) {
  if (floats > *size) {
    free(*buffer);
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    *buffer = aligned_alloc(64, bytes);
    *size = *buffer ? floats : 0;
  }
  return *buffer;
}

/* -- FFI errors and metadata ------------------------------------------------------------- */
static XLA_FFI_Error *fail(const XLA_FFI_Api *api, XLA_FFI_Error_Code code, const char *msg) {
  XLA_FFI_Error_Create_Args args = {XLA_FFI_Error_Create_Args_STRUCT_SIZE, NULL, msg, code};
  return api->XLA_FFI_Error_Create(&args);
}

#define FAIL(...)                                                         \
  do {                                                                    \
    char msg_[512];                                                       \
    snprintf(msg_, sizeof msg_, "hybrix native " KERNEL_NAME ": " __VA_ARGS__); \
    return fail(api, XLA_FFI_Error_Code_INVALID_ARGUMENT, msg_);          \
  } while (0)

/* The int64 array attribute `attr` of `count` values: its data goes to *params. */
static XLA_FFI_Error *int64_attr(XLA_FFI_CallFrame *frame, const char *attr, int64_t count,
                                 const int64_t **params) {
  const XLA_FFI_Api *api = frame->api;
  const XLA_FFI_Array *found = NULL;
  size_t len = strlen(attr);
  for (int64_t i = 0; i < frame->attrs.size; i++) {
    const XLA_FFI_ByteSpan *name = frame->attrs.names[i];
    if (name->len == len && memcmp(name->ptr, attr, len) == 0) {
      if (frame->attrs.types[i] != XLA_FFI_AttrType_ARRAY) FAIL("attribute %s is not an array", attr);
      found = (const XLA_FFI_Array *)frame->attrs.attrs[i];
    }
  }
  if (!found || found->dtype != XLA_FFI_DataType_S64 || found->size != count)
    FAIL("expected an int64 array attribute %s of %lld values", attr, (long long)count);
  *params = found->data;
  return NULL;
}

/* The frame a kernel takes: `args` float32 buffers (the convolutions: data, weight, bias and
 * maybe a residual; pooling: data), one float32 result and one int64 array attribute `attr` of `count` values,
 * whose data goes to *params. */
static XLA_FFI_Error *decode_frame_of(XLA_FFI_CallFrame *frame, int64_t args, const char *attr,
                                      int64_t count, const int64_t **params) {
  const XLA_FFI_Api *api = frame->api;
  if (frame->args.size != args || frame->rets.size != 1)
    FAIL("expected %lld arguments (%s) and 1 result, got %lld and %lld", (long long)args,
         args == 4 ? "data, weight, bias, residual" : args == 3 ? "data, weight, bias" : "data",
         (long long)frame->args.size, (long long)frame->rets.size);
  for (int i = 0; i < args; i++)
    if (frame->args.types[i] != XLA_FFI_ArgType_BUFFER) FAIL("argument %d is not a buffer", i);
  if (frame->rets.types[0] != XLA_FFI_RetType_BUFFER) FAIL("the result is not a buffer");
  for (int i = 0; i < args; i++)
    if (((const XLA_FFI_Buffer *)frame->args.args[i])->dtype != XLA_FFI_DataType_F32)
      FAIL("expected float32 inputs and output");
  if (((const XLA_FFI_Buffer *)frame->rets.rets[0])->dtype != XLA_FFI_DataType_F32)
    FAIL("expected float32 inputs and output");
  return int64_attr(frame, attr, count, params);
}

static XLA_FFI_Error *decode_frame(XLA_FFI_CallFrame *frame, const char *attr, int64_t count,
                                   const int64_t **params) {
  return decode_frame_of(frame, 3, attr, count, params);
}

static XLA_FFI_Error *metadata(XLA_FFI_CallFrame *frame) {
  const XLA_FFI_Api *api = frame->api;
  XLA_FFI_Metadata_Extension *ext = (XLA_FFI_Metadata_Extension *)frame->extension_start;
  if (ext->extension_base.struct_size < XLA_FFI_Metadata_Extension_STRUCT_SIZE ||
      ext->metadata->struct_size < XLA_FFI_Metadata_STRUCT_SIZE)
    FAIL("unexpected XLA_FFI_Metadata size; check installed software versions");
  ext->metadata->api_version = (XLA_FFI_Api_Version){XLA_FFI_Api_Version_STRUCT_SIZE, NULL,
                                                     XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR};
  ext->metadata->traits = 0;
  return NULL;
}

/* Every kernel's entry starts here: checks the frame, answers XLA's metadata query (the API
 * version) and the stages before execution; *execute is set when the kernel runs now. */
static XLA_FFI_Error *begin_call(XLA_FFI_CallFrame *frame, int *execute) {
  const XLA_FFI_Api *api = frame->api;
  *execute = 0;
  if (frame->struct_size < XLA_FFI_CallFrame_STRUCT_SIZE)
    FAIL("unexpected XLA_FFI_CallFrame size %zu (expected at least %zu); check installed "
         "software versions", frame->struct_size, (size_t)XLA_FFI_CallFrame_STRUCT_SIZE);
  if (frame->extension_start && frame->extension_start->type == XLA_FFI_Extension_Metadata)
    return metadata(frame);
  *execute = frame->stage == XLA_FFI_ExecutionStage_EXECUTE; /* nothing to prepare */
  return NULL;
}

#endif
