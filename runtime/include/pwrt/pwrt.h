/*===- pwrt.h - pipeweave runtime C ABI ---------------------------*- C -*-===*
 *
 * The runtime that compiled pipeweave schedules call. Everything here is
 * plain C (C99 and later, and C++); every function returns or reports a
 * pwrt_status, and no C++ exception ever crosses this interface.
 *
 * Model
 * -----
 * One process per rank. A rank creates one context, registers its kernels
 * by name, creates the pool that holds its static buffer plan, its streams
 * and its events once, and then runs steps:
 *
 *     pwrt_step_begin(ctx);
 *     pwrt_launch(ctx, compute, fwd, &args);   // enqueues, returns at once
 *     pwrt_event_record(ctx, compute, produced);
 *     pwrt_stream_wait_event(ctx, comm, produced);
 *     pwrt_p2p_group_begin(ctx, comm);
 *     pwrt_send(ctx, comm, &activation);
 *     pwrt_recv(ctx, comm, &gradient);
 *     pwrt_p2p_group_end(ctx, comm);
 *     ...
 *     status = pwrt_step_end(ctx);                  // waits for every stream
 *
 * Enqueue calls only record work; streams run it asynchronously and in
 * order. A stream is the unit of concurrency (a worker thread on the host
 * backend, a device stream on CUDA): work on different streams overlaps
 * unless an event orders it. An event marks a point of one stream that
 * other streams can wait for; a wait waits for the event's most recent
 * record enqueued before the wait (a never-recorded event is complete). A
 * p2p group posts all its sends and receives at once, so a group may send to
 * and receive from the same peer without deadlock, and completes, in its
 * stream's order, when all of them have completed. Compute streams never
 * wait for a transfer unless they wait for an event recorded after it.
 *
 * An all-to-all (pwrt_all_to_all) exchanges rows between the members of a
 * process group, with per-peer row counts that kernels decide at run time
 * (MoE dispatch and combine); like a p2p group it runs on its stream and
 * only that stream waits for it.
 *
 * Collective calls: pwrt_context_create, pwrt_require_kernels,
 * pwrt_group_create, pwrt_step_end and pwrt_context_destroy must be called
 * by every rank, in the same order. Ranks agree at pwrt_step_end on whether
 * the step worked.
 *
 * Errors
 * ------
 * A failing call returns a status other than PWRT_OK and leaves a message in
 * pwrt_last_error(ctx) (pwrt_last_error(NULL) for pwrt_context_create and
 * pwrt_context_destroy, per thread). A failure inside a step ends the step
 * on every rank, and pwrt_step_end returns the same status and message on
 * every rank, naming the rank where it happened:
 *
 *  - A kernel returns a status other than PWRT_OK: PWRT_ERROR_KERNEL_FAILED,
 *    "step 0 failed: rank 1: kernel 'fwd' failed at stage 1, micro-batch 2
 *    (forward) on stream 'compute': kernel failed: <text given to
 *    pwrt_kernel_set_error>" (", layer 0" after the micro-batch for a
 *    component launch). If kernels fail on several ranks, the earliest
 *    comes first and the others follow ("; then rank 2: ...").
 *    The failing rank tells the others at once; from then on every rank
 *    skips its remaining kernels but still completes its transfers, so no
 *    rank waits forever, and the context stays usable for later steps.
 *  - An all-to-all's rows do not fit its buffers:
 *    PWRT_ERROR_CAPACITY_EXCEEDED, "step 0 failed: rank 3: all-to-all
 *    'dispatch' (forward) at stage 1, micro-batch 2, layer 0 on stream
 *    'comm': 40 rows of 72 bytes arrive (rows from group ranks 0..1: 22,
 *    18) but the receive buffer holds 2176 bytes (30 rows after the
 *    16-byte header)". Like a kernel failure, the context stays usable.
 *  - No progress for the timeout while waiting on rank X (a transfer or an
 *    all-to-all with X that does not complete, or X not reaching the end of
 *    the step):
 *    PWRT_ERROR_PEER_LOST naming rank X. A kernel still running after the
 *    timeout: PWRT_ERROR_TIMEOUT naming the kernel. These are fatal: the
 *    other ranks are told, every stream abandons its work, this and every
 *    later call on the context fail with the same error, and
 *    pwrt_context_destroy returns it. MPI cannot be finalized after them;
 *    the process should exit with a non-zero status.
 *
 * Unless PWRT_FLAG_QUIET is set, the runtime also prints every error that
 * fails pwrt_context_create, pwrt_require_kernels or a step to stderr, once,
 * as "pwrt[rank R/N]: error: <message>" ("pwrt: error: <message>" when
 * pwrt_context_create fails; its messages name the rank), so that a job the
 * launcher tears down still leaves the reason behind.
 *
 * Threads: call the functions of one context from one thread (the host
 * thread). Kernels run on stream threads (host backend) or inside
 * pwrt_launch on the host thread, enqueueing device work on native_stream
 * (CUDA backend, pwrt/pwrt_cuda.h), and may call only
 * pwrt_kernel_set_error.
 *
 *===----------------------------------------------------------------------===*/

#ifndef PWRT_PWRT_H
#define PWRT_PWRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct layout or a function signature changes.
 * 2: pwrt_kernel_args.layer (component launches). */
#define PWRT_ABI_VERSION 2

/* Returns PWRT_ABI_VERSION of the library that is linked in. */
int pwrt_abi_version(void);

/*===----------------------------- Status ------------------------------===*/

typedef enum pwrt_status {
  PWRT_OK = 0,
  PWRT_ERROR_INVALID_ARGUMENT = 1,    /* a null pointer, bad index or size */
  PWRT_ERROR_INVALID_STATE = 2,       /* a call out of order (no step, ...) */
  PWRT_ERROR_WORLD_SIZE_MISMATCH = 3, /* launched on another rank count */
  PWRT_ERROR_MISSING_KERNEL = 4,      /* a kernel name is not registered */
  PWRT_ERROR_KERNEL_FAILED = 5,       /* a kernel returned an error */
  PWRT_ERROR_PEER_LOST = 6,           /* no progress waiting on a rank */
  PWRT_ERROR_TIMEOUT = 7,             /* a kernel outran the timeout */
  PWRT_ERROR_MPI = 8,                 /* MPI reported an error */
  PWRT_ERROR_OUT_OF_MEMORY = 9,
  PWRT_ERROR_UNSUPPORTED = 10, /* e.g. a backend this build does not have */
  PWRT_ERROR_IO = 11,          /* the trace file could not be written */
  PWRT_ERROR_INTERNAL = 12,
  /* An all-to-all's rows do not fit its send or receive buffer. */
  PWRT_ERROR_CAPACITY_EXCEEDED = 13,
  PWRT_ERROR_DEVICE = 14 /* CUDA or NCCL reported an error */
} pwrt_status;

/* A short lower-case phrase, e.g. "kernel failed"; never NULL. */
const char *pwrt_status_string(pwrt_status status);

typedef struct pwrt_context pwrt_context;

/* The message of the last failing call on `ctx` ("" if none). With NULL: the
 * last failure of pwrt_context_create or pwrt_context_destroy on the calling
 * thread. Valid until the next call on the same context (or thread). */
const char *pwrt_last_error(const pwrt_context *ctx);

/*===---------------------------- Context ------------------------------===*/

typedef enum pwrt_backend {
  PWRT_BACKEND_HOST = 0, /* one process per rank over MPI, CPU threads */
  PWRT_BACKEND_CUDA = 1  /* CUDA streams and NCCL (pwrt/pwrt_cuda.h) */
} pwrt_backend;

/* Flags for pwrt_context_options.flags. */
#define PWRT_FLAG_QUIET 0x1u /* do not print errors to stderr */

typedef struct pwrt_context_options {
  /* sizeof(pwrt_context_options) as the caller was compiled; set by
   * pwrt_context_options_init. Lets later versions append fields. */
  size_t struct_size;
  pwrt_backend backend;
  /* Ranks the program was compiled for; the context fails on every rank
   * with PWRT_ERROR_WORLD_SIZE_MISMATCH if the job has another size. 0
   * accepts any size. */
  int32_t expected_world_size;
  /* Seconds without progress after which a wait fails (PWRT_ERROR_PEER_LOST
   * or PWRT_ERROR_TIMEOUT). <= 0: the environment variable PW_TIMEOUT, else
   * 60. Must exceed the longest kernel and the largest gap between two
   * ranks' ends of a step. */
  double timeout_seconds;
  /* Chrome trace file written by rank 0 at pwrt_context_destroy, merged over
   * all ranks. NULL: the environment variable PW_TRACE; "": no trace. */
  const char *trace_path;
  uint32_t flags; /* PWRT_FLAG_* */
} pwrt_context_options;

/* Fills `options` with the defaults: the backend named by the environment
 * variable PW_BACKEND ("host" or "cuda"), else the host backend; any world
 * size; timeout and trace from the environment; no flags. A backend set
 * after this call wins over PW_BACKEND. */
void pwrt_context_options_init(pwrt_context_options *options);

/* Collective. Initializes MPI if nobody has (MPI_THREAD_MULTIPLE; it is
 * finalized at process exit), checks the world size, starts the backend.
 * `options` may be NULL for the defaults. On failure *ctx is NULL and
 * pwrt_last_error(NULL) says why (on every rank, for a world size
 * mismatch). Several contexts may exist one after another in a process. */
pwrt_status pwrt_context_create(const pwrt_context_options *options,
                                pwrt_context **ctx);

/* Collective. Waits for the streams, writes the trace (rank 0), releases
 * everything. Returns the fatal error of the context if it had one (the
 * process should then exit non-zero), else the status of the shutdown.
 * Inside an open step the step is abandoned as a fatal error. NULL is a
 * no-op. */
pwrt_status pwrt_context_destroy(pwrt_context *ctx);

/* A number that no other context of this process has had or will have
 * (never 0); 0 for NULL. Layers that keep state per context key it by this,
 * not by the address, which a later context may reuse. */
uint64_t pwrt_context_id(const pwrt_context *ctx);

/* This process's rank and the number of ranks; -1 for NULL. */
int pwrt_rank(const pwrt_context *ctx);
int pwrt_world_size(const pwrt_context *ctx);

/*===---------------------------- Kernels ------------------------------===*/

typedef int32_t pwrt_stream; /* index in creation order, from 0 */
typedef int32_t pwrt_event;  /* index in creation order, from 0 */
typedef int32_t pwrt_kernel; /* index in registration order, from 0 */

/* What a kernel computes; the schedule's action kinds. */
typedef enum pwrt_action_kind {
  PWRT_ACTION_FORWARD = 0,
  PWRT_ACTION_BACKWARD_INPUT = 1,  /* gradient for the stage input */
  PWRT_ACTION_BACKWARD_WEIGHT = 2, /* gradient for the stage weights */
  PWRT_ACTION_BACKWARD = 3,        /* both */
  PWRT_ACTION_OVERLAP_FB = 4,      /* a forward and a backward together */
  PWRT_ACTION_OTHER = 5            /* loss, optimizer, ... */
} pwrt_action_kind;

/* A region of memory: host memory on the host backend, device memory on
 * CUDA. Usually a slot of the pool (pwrt_buffer_at). */
typedef struct pwrt_buffer {
  void *data;
  size_t bytes;
} pwrt_buffer;

/* What a kernel is called with. The caller of pwrt_launch fills the first
 * group; the runtime copies it and the three buffer arrays (the caller may
 * reuse them as soon as pwrt_launch returns) and fills the second group
 * when the kernel runs. Convention for the buffers: `inputs` are what the
 * action reads (forward: the stage input activation; backward: the output
 * gradient, then saved activations), `outputs` what it produces for the
 * next action (forward: the output activation; backward: the input
 * gradient), `gradients` the weight-gradient accumulators it updates.
 *
 * Components. A stage made of layers of components (e.g. a MoE layer's
 * attention, dispatch, experts, combine) launches one kernel per compute
 * component and layer: `layer` is the layer within the stage (0 ..
 * layers - 1), `stage` the global stage index (with DualPipe's two
 * directions, 0 .. 2 * ranks - 1), so one registered kernel serves every
 * layer of every stage. A launch that is not a component's (a whole
 * stage, a loss) has layer -1. The buffers of a component launch: inputs =
 * the receive buffer of the all-to-all right before it in its chain, or
 * the chain's input when it comes first (forward: the stage input
 * activation; backward: the output gradient); outputs = the send buffer of
 * the all-to-all right after it, or the chain's output when it comes last
 * (forward: the output activation; backward: the input gradient); nothing
 * where the neighbour is another compute component (that data stays in the
 * kernels' own state), and nothing for backward-for-weights launches. */
typedef struct pwrt_kernel_args {
  pwrt_action_kind kind;
  int32_t stage;
  int32_t microbatch;
  int32_t stage2;      /* backward half of PWRT_ACTION_OVERLAP_FB, else -1 */
  int32_t microbatch2; /* likewise */
  int32_t layer;       /* a component's layer in its stage, else -1 */
  const pwrt_buffer *inputs;
  size_t num_inputs;
  const pwrt_buffer *outputs;
  size_t num_outputs;
  const pwrt_buffer *gradients;
  size_t num_gradients;

  /* Filled in by the runtime (ignored in pwrt_launch). */
  const char *kernel_name;
  void *user_data;     /* as given to pwrt_register_kernel */
  void *native_stream; /* cudaStream_t on CUDA, NULL on the host backend */
  pwrt_stream stream;
  int32_t rank;
  uint64_t step; /* 0 for the first step */
  void *runtime_private;
} pwrt_kernel_args;

/* A kernel returns PWRT_OK, or any other status (usually
 * PWRT_ERROR_KERNEL_FAILED) to fail the step. Runs on a stream thread. */
typedef pwrt_status (*pwrt_kernel_fn)(const pwrt_kernel_args *args);

/* Registers `fn` under `name` (copied; registering a name twice fails).
 * `user_data` is handed to every call. `id` may be NULL. Not inside a
 * step. */
pwrt_status pwrt_register_kernel(pwrt_context *ctx, const char *name,
                                 pwrt_kernel_fn fn, void *user_data,
                                 pwrt_kernel *id);

/* The id registered under `name`, or PWRT_ERROR_MISSING_KERNEL. */
pwrt_status pwrt_kernel_lookup(pwrt_context *ctx, const char *name,
                               pwrt_kernel *id);

/* Collective, before the first step: checks that every name this rank needs
 * is registered. If any rank misses one, every rank fails with
 * PWRT_ERROR_MISSING_KERNEL and a message listing each rank's missing
 * names. */
pwrt_status pwrt_require_kernels(pwrt_context *ctx, const char *const *names,
                                 size_t count);

/* From inside a kernel: text that the failure message will carry if the
 * kernel then returns an error (copied; the last call wins). */
void pwrt_kernel_set_error(const pwrt_kernel_args *args, const char *message);

/*===---------------------------- Buffers ------------------------------===*/

/* Allocates the context's pool, zero-filled, once: `bytes` (> 0) at an
 * `alignment` that is a power of two (0: 4096). The compiler's static
 * buffer plan places every slot at an offset in it. Not inside a step. */
pwrt_status pwrt_pool_create(pwrt_context *ctx, size_t bytes, size_t alignment);

/* The address of the slot [offset, offset + bytes) of the pool. */
pwrt_status pwrt_buffer_at(pwrt_context *ctx, size_t offset, size_t bytes,
                           void **data);

/*===------------------------ Streams and events -----------------------===*/

/* Creates a stream (`name` is for traces and messages, may be NULL). Not
 * inside a step. */
pwrt_status pwrt_stream_create(pwrt_context *ctx, const char *name,
                               pwrt_stream *stream);

/* Creates an event. Events live as long as the context and are reused
 * across steps. Not inside a step. */
pwrt_status pwrt_event_create(pwrt_context *ctx, pwrt_event *event);

/* Enqueues `kernel` on `stream` (inside a step). */
pwrt_status pwrt_launch(pwrt_context *ctx, pwrt_stream stream,
                        pwrt_kernel kernel, const pwrt_kernel_args *args);

/* Enqueues a record of `event` on `stream`: the event completes when
 * everything enqueued on `stream` before it has. Record each event on one
 * stream. */
pwrt_status pwrt_event_record(pwrt_context *ctx, pwrt_stream stream,
                              pwrt_event event);

/* Enqueues on `stream` a wait for the latest record of `event`. */
pwrt_status pwrt_stream_wait_event(pwrt_context *ctx, pwrt_stream stream,
                                   pwrt_event event);

/*===------------------------- Point to point --------------------------===*/

typedef enum pwrt_payload {
  PWRT_PAYLOAD_ACTIVATION = 0,
  PWRT_PAYLOAD_GRADIENT = 1,
  PWRT_PAYLOAD_OTHER = 2
} pwrt_payload;

/* One message. A send and the receive that matches it name each other's
 * rank (on the CUDA backend a rank may also send to itself), the same tag
 * and the same size; tags need to be unique only among the messages of one
 * (sender, receiver) pair that can be in flight at once (the compiler
 * derives them from the producing stage and micro-batch). NCCL matches by
 * order, not by tag: on the CUDA backend each pair's messages must also be
 * issued in the same order at both ends (the compiler's lowering does so; a
 * step that does not fails). `payload`, `stage` and `microbatch` (the local
 * stage, -1 if none) only label traces and messages. */
typedef struct pwrt_transfer {
  void *data; /* send: read from; receive: written to */
  size_t bytes;
  int32_t peer;
  int32_t tag; /* 0 .. 2^30 - 1 */
  pwrt_payload payload;
  int32_t stage;
  int32_t microbatch;
} pwrt_transfer;

/* Opens a group on `stream`; the sends and receives that follow on the same
 * stream join it, and pwrt_p2p_group_end enqueues the whole group as one
 * operation. A send or receive outside a group is a group of one. */
pwrt_status pwrt_p2p_group_begin(pwrt_context *ctx, pwrt_stream stream);
pwrt_status pwrt_send(pwrt_context *ctx, pwrt_stream stream,
                      const pwrt_transfer *transfer);
pwrt_status pwrt_recv(pwrt_context *ctx, pwrt_stream stream,
                      const pwrt_transfer *transfer);
pwrt_status pwrt_p2p_group_end(pwrt_context *ctx, pwrt_stream stream);

/*===---------------------- Groups and all-to-all ----------------------===*/

typedef int32_t pwrt_group; /* index in creation order, from 0 */

/* Collective over every rank of the context, not inside a step: makes the
 * process group this rank belongs to. `ranks` lists its `count` members
 * (ranks of the context, this rank among them, no repeats); a member's
 * position in the list is its group rank. Every member must pass the same
 * list, and the groups of all ranks together must cover each rank once
 * (e.g. the expert-parallel groups {0, 1}, {2, 3}, ... of a pipeline x
 * expert-parallel layout); otherwise every rank fails with
 * PWRT_ERROR_INVALID_ARGUMENT and the same message. Every rank receives the
 * same handle. A group of one is allowed. */
pwrt_status pwrt_group_create(pwrt_context *ctx, const int32_t *ranks,
                              size_t count, pwrt_group *group);

/* The number of members of `group`, and this rank's position in it; -1 for
 * a NULL context or an unknown group. */
int pwrt_group_size(const pwrt_context *ctx, pwrt_group group);
int pwrt_group_rank(const pwrt_context *ctx, pwrt_group group);

/* One all-to-all among the members of a group of G ranks. Both buffers
 * start with a header of G int64_t row counts, one per group rank, followed
 * by rows of `row_bytes` bytes packed in group-rank order, without gaps:
 *
 *   send: counts[G] (rows this rank sends to each member, itself included)
 *         rows for group rank 0, rows for group rank 1, ...
 *   recv: counts[G] (rows this rank received from each member, filled in)
 *         rows from group rank 0, rows from group rank 1, ...
 *
 * Rows start 8 * G bytes in (8-byte aligned in an aligned buffer).
 * The header is read when the all-to-all runs, so a kernel enqueued before
 * it on the same stream (or ordered before it by an event) decides the
 * counts. The runtime exchanges the counts, then the rows; the rows this
 * rank sends itself are copied. `send_bytes` and `recv_bytes` are the
 * buffers' capacities: rows that do not fit (the header's rows past the
 * send buffer, or more rows arriving than the receive buffer holds) fail
 * the step with PWRT_ERROR_CAPACITY_EXCEEDED naming the rank, the label,
 * the stage and the micro-batch; the exchange still completes on every
 * member, so that no peer waits (what the receive buffers then hold is
 * unspecified).
 * Every member must use the same row_bytes (else the step fails with
 * PWRT_ERROR_INVALID_ARGUMENT) and enqueue the group's all-to-alls in the
 * same order, on any of its streams: the n-th all-to-all of a group on one
 * member meets the n-th on every other member. The buffers must not
 * overlap. `name`, `kind`, `stage`, `microbatch` and `layer` only label
 * traces and messages (`name` is copied; a layer of -1 is left out). */
typedef struct pwrt_all_to_all_args {
  const void *send;
  size_t send_bytes;
  void *recv;
  size_t recv_bytes;
  size_t row_bytes;      /* > 0 */
  const char *name;      /* e.g. "dispatch", "combine"; may be NULL */
  pwrt_action_kind kind; /* e.g. PWRT_ACTION_FORWARD or _BACKWARD */
  int32_t stage;
  int32_t microbatch;
  int32_t layer;
} pwrt_all_to_all_args;

/* Enqueues an all-to-all in `group` on `stream` (inside a step; not while
 * the stream has an open p2p group). After a step failure it still runs,
 * sending no rows, so that peers do not wait for it. */
pwrt_status pwrt_all_to_all(pwrt_context *ctx, pwrt_stream stream,
                            pwrt_group group, const pwrt_all_to_all_args *args);

/*===----------------------------- Steps -------------------------------===*/

/* Opens a step: the enqueue calls above are valid until pwrt_step_end. */
pwrt_status pwrt_step_begin(pwrt_context *ctx);

/* Collective. Waits until every stream has run everything enqueued, then
 * agrees with the other ranks: PWRT_OK on every rank, or the same failure
 * (see "Errors" above) on every rank. */
pwrt_status pwrt_step_end(pwrt_context *ctx);

/* Fails the open step on every rank, like a failing kernel (`status`, or
 * PWRT_ERROR_KERNEL_FAILED for PWRT_OK, and "rank R: <message>"): from now
 * on every rank skips its kernels but still runs its transfers, and
 * pwrt_step_end returns the failure. For errors the caller finds while
 * enqueueing; keep enqueueing the step's transfers afterwards, or peers
 * wait for them until the timeout. */
pwrt_status pwrt_step_fail(pwrt_context *ctx, pwrt_status status,
                           const char *message);

/* Wall-clock seconds of the last finished step, pwrt_step_begin to the
 * return of pwrt_step_end. */
pwrt_status pwrt_step_seconds(const pwrt_context *ctx, double *seconds);

#ifdef __cplusplus
}
#endif

#endif /* PWRT_PWRT_H */
