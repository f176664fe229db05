/*===- pwrt_codegen.h - calls that compiled schedules make ---------*- C -*-===*
 *
 * Generated code (pwc --emit=cpp, --emit=obj) issues one training step as a
 * flat sequence of these calls, so that it needs no structs, no control
 * flow beyond choosing its rank, and no error handling of its own. For
 * large programs it issues the same calls from a constant table per rank
 * instead (pwrt_cg_run below). They sit on top of pwrt.h:
 *
 *  - The first pwrt_cg_rank_begin on a context sets the rank up once: checks
 *    the world size, requires every kernel the program launches (collective),
 *    creates the pool, the two streams (compute, comm) and the events.
 *  - A failing call fails the step on every rank (pwrt_step_fail): kernels
 *    are skipped from then on but transfers still run, so no peer waits
 *    forever; pwrt_cg_rank_end ends the step collectively and
 *    pwrt_cg_result returns the first error. A stream other than 0 or 1,
 *    or an event out of range, fails the call with
 *    PWRT_ERROR_INVALID_ARGUMENT.
 *
 * Kernel arguments (pwrt_kernel_args) by launch kind; an absent buffer is
 * {NULL, 0}:
 *   forward:          inputs = {input activation},
 *                     outputs = {output activation, saved activations}
 *   loss:             inputs = {stage output}, outputs = {output gradient}
 *   backward, backward_input:
 *                     inputs = {output gradient, saved activations},
 *                     outputs = {input gradient}
 *   backward_weight:  inputs = {output gradient, saved activations}
 *
 *===----------------------------------------------------------------------===*/

#ifndef PWRT_CODEGEN_H
#define PWRT_CODEGEN_H

#include "pwrt/pwrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Launch kinds as generated code passes them. */
enum {
  PWRT_CG_FORWARD = 0,
  PWRT_CG_BACKWARD_INPUT = 1,
  PWRT_CG_BACKWARD_WEIGHT = 2,
  PWRT_CG_BACKWARD = 3,
  PWRT_CG_LOSS = 4
};

/* Starts rank `rank` of program `program` (compiled for `ranks` ranks) for
 * one step, if this process is that rank; otherwise every call up to the
 * matching pwrt_cg_rank_end does nothing. `kernels` lists the kernel names
 * the program launches, comma-separated; kernel indices below refer to it. */
void pwrt_cg_rank_begin(pwrt_context *ctx, const char *program, int32_t ranks,
                        int32_t rank, int64_t pool_bytes, int32_t num_events,
                        const char *kernels);

/* Enqueues kernel number `kernel` of the list on stream 0 (compute) or 1
 * (comm). Offsets of -1 mean the buffer is absent. */
void pwrt_cg_launch(pwrt_context *ctx, int32_t stream, int32_t kernel,
                    int32_t kind, int32_t stage, int32_t microbatch,
                    int64_t in0_offset, int64_t in0_bytes, int64_t in1_offset,
                    int64_t in1_bytes, int64_t out0_offset, int64_t out0_bytes,
                    int64_t out1_offset, int64_t out1_bytes);

/* Expert parallelism (issue 8). A program compiled for R pipeline ranks
 * with E > 1 expert-parallel processes per rank runs on R * E processes:
 * process p runs pipeline rank p / E (pwrt_cg_pipeline_rank), its p2p
 * peers q are processes q * E + p % E, and its all-to-alls run in the group
 * of processes r*E .. r*E+E-1, created once at set-up.
 * pwrt_cg_expert_parallel comes right before pwrt_cg_rank_begin in every
 * rank function of such a program; `all_to_alls` lists the all-to-all
 * component names, comma-separated (the `name` of pwrt_cg_all_to_all
 * indexes it). */
void pwrt_cg_expert_parallel(pwrt_context *ctx, int32_t expert_parallel,
                             const char *all_to_alls);
/* pwrt_rank(ctx) / expert_parallel. */
int32_t pwrt_cg_pipeline_rank(const pwrt_context *ctx, int32_t expert_parallel);

/* A component launch: as pwrt_cg_launch, with args.layer = `layer` and
 * only the first input and output (a component's launch has no saved
 * activations: its state holds them). */
void pwrt_cg_launch_layer(pwrt_context *ctx, int32_t stream, int32_t kernel,
                          int32_t kind, int32_t stage, int32_t microbatch,
                          int32_t layer, int64_t in0_offset, int64_t in0_bytes,
                          int64_t out0_offset, int64_t out0_bytes);

/* An all-to-all of component `name` (index in the all_to_alls list) in the
 * expert-parallel group: pwrt_all_to_all reading the send slot and writing
 * the receive slot. `kind` is PWRT_CG_FORWARD or PWRT_CG_BACKWARD. */
void pwrt_cg_all_to_all(pwrt_context *ctx, int32_t stream, int32_t name,
                        int32_t kind, int32_t stage, int32_t microbatch,
                        int32_t layer, int64_t row_bytes, int64_t send_offset,
                        int64_t send_bytes, int64_t recv_offset,
                        int64_t recv_bytes);

void pwrt_cg_record(pwrt_context *ctx, int32_t stream, int32_t event);
void pwrt_cg_wait(pwrt_context *ctx, int32_t stream, int32_t event);

void pwrt_cg_group_begin(pwrt_context *ctx, int32_t stream);
/* `payload`: 0 activation, 1 gradient. */
void pwrt_cg_send(pwrt_context *ctx, int32_t stream, int32_t peer, int32_t tag,
                  int32_t payload, int32_t stage, int32_t microbatch,
                  int64_t offset, int64_t bytes);
void pwrt_cg_recv(pwrt_context *ctx, int32_t stream, int32_t peer, int32_t tag,
                  int32_t payload, int32_t stage, int32_t microbatch,
                  int64_t offset, int64_t bytes);
void pwrt_cg_group_end(pwrt_context *ctx, int32_t stream);

/* The table form. Generated code for large programs keeps the calls of a
 * rank between pwrt_cg_rank_begin and pwrt_cg_rank_end as a constant table
 * of `num_records` records of PWRT_CG_RECORD_WIDTH int32 each and makes
 * them with one pwrt_cg_run; `slots` holds `num_slots` pool slots as
 * (offset, bytes) pairs that records refer to by index (-1: none). Record
 * fields, after the op code and the stream:
 *   PWRT_CG_OP_LAUNCH:  kernel, kind, stage, micro-batch, then the slots of
 *                       in0, in1, out0, out1 (as pwrt_cg_launch)
 *   PWRT_CG_OP_RECORD, PWRT_CG_OP_WAIT:  event
 *   PWRT_CG_OP_GROUP_BEGIN, PWRT_CG_OP_GROUP_END:  none
 *   PWRT_CG_OP_SEND, PWRT_CG_OP_RECV:  peer, tag, payload, stage,
 *                       micro-batch, slot (as pwrt_cg_send/recv)
 *   PWRT_CG_OP_LAUNCH_LAYER:  kernel, kind, stage, micro-batch, layer, then
 *                       the slots of in0 and out0 (as pwrt_cg_launch_layer)
 *   PWRT_CG_OP_ALL_TO_ALL:  name, kind, stage, micro-batch, layer,
 *                       row bytes, send slot, receive slot
 * Unused fields are 0. Each record does what its flat call does, with the
 * same error handling; a malformed record (unknown op code, stream, event,
 * kernel or slot index out of range) fails the step with
 * PWRT_ERROR_INVALID_ARGUMENT and is skipped. */
enum {
  PWRT_CG_OP_LAUNCH = 0,
  PWRT_CG_OP_RECORD = 1,
  PWRT_CG_OP_WAIT = 2,
  PWRT_CG_OP_GROUP_BEGIN = 3,
  PWRT_CG_OP_SEND = 4,
  PWRT_CG_OP_RECV = 5,
  PWRT_CG_OP_GROUP_END = 6,
  PWRT_CG_OP_LAUNCH_LAYER = 7,
  PWRT_CG_OP_ALL_TO_ALL = 8
};
enum { PWRT_CG_RECORD_WIDTH = 10 };

void pwrt_cg_run(pwrt_context *ctx, const int32_t *records, int64_t num_records,
                 const int64_t *slots, int64_t num_slots);

/* Ends the step (collective) if this process ran the rank. */
void pwrt_cg_rank_end(pwrt_context *ctx);

/* The outcome of the step: PWRT_OK, the first error of this rank's calls,
 * or the step's error; PWRT_ERROR_WORLD_SIZE_MISMATCH if no rank function
 * matched this process. Resets the state for the next step. */
pwrt_status pwrt_cg_result(pwrt_context *ctx, const char *program,
                           int32_t ranks);

#ifdef __cplusplus
}
#endif

#endif /* PWRT_CODEGEN_H */
