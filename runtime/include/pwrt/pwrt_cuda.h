/*===- pwrt_cuda.h - the CUDA + NCCL backend's own calls ----------*- C -*-===*
 *
 * The CUDA backend runs the same programs as the host backend (pwrt.h):
 * select it with pwrt_context_options.backend = PWRT_BACKEND_CUDA, or with
 * PW_BACKEND=cuda for a program that leaves the backend at its default.
 * Kernels are host functions that enqueue device work on
 * pwrt_kernel_args.native_stream (a cudaStream_t) and return at once; pool
 * slots are device memory. runtime/README.md describes the backend.
 *
 * Two ways to start ranks:
 *
 *  - One process per rank (pwrt_context_create under mpirun): rank 0 makes
 *    the NCCL unique id and shares it over MPI; rank r uses device
 *    (its rank among the processes of its node) % (devices it sees).
 *  - All ranks in one process (pwrt_cuda_contexts_create below): one
 *    context per rank, created together; then each context is driven by
 *    its own thread, since step ends and destroy are collective.
 *
 * Ranks on distinct GPUs talk through NCCL (ncclSend/ncclRecv in a group
 * on the stream of the transfer). NCCL refuses two ranks of one
 * communicator on one GPU; in one process such ranks use the local
 * transport instead (device-to-device copies ordered by CUDA events), and
 * with one process per rank they are an error at context creation.
 *
 *===----------------------------------------------------------------------===*/

#ifndef PWRT_PWRT_CUDA_H
#define PWRT_PWRT_CUDA_H

#include "pwrt/pwrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates `count` (>= 1) contexts of one job in this process, contexts[r]
 * being rank r of `count`, on device devices[r] (NULL: r % the number of
 * visible devices). `options` as for pwrt_context_create (NULL: defaults);
 * its backend must be PWRT_BACKEND_CUDA and its expected_world_size 0 or
 * `count`. The communicators are made together, as ncclCommInitAll does,
 * unless ranks share a GPU (then, or with PW_CUDA_TRANSPORT=local, ranks
 * copy to each other directly). After this returns, call each context's
 * functions from one thread per context (the threads may differ from the
 * creating one), including pwrt_context_destroy. On failure every
 * contexts[r] is NULL and pwrt_last_error(NULL) says why. */
pwrt_status pwrt_cuda_contexts_create(const pwrt_context_options *options,
                                      int32_t count, const int32_t *devices,
                                      pwrt_context **contexts);

/* The CUDA device of `ctx`, or -1 (another backend, or NULL). */
int pwrt_cuda_device(const pwrt_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* PWRT_PWRT_CUDA_H */
