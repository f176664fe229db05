//===- pwrt_codegen.cpp - calls that compiled schedules make --------------===//
//
// Keeps per-context state (streams, events, kernel ids, the sticky status of
// the current step) so that generated code can be a flat call sequence.
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt_codegen.h"

#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {
struct RankState {
  bool setUp = false;
  pwrt_stream streams[2] = {0, 0};
  std::vector<pwrt_event> events;
  std::vector<pwrt_kernel> kernels;
  int64_t poolBytes = 0;
  // Expert parallelism: processes per pipeline rank, their group, the
  // all-to-all names.
  int32_t expertParallel = 1;
  pwrt_group group = -1;
  std::vector<std::string> allToAlls;
  // The current step.
  bool active = false; // this process runs the rank being issued
  bool inStep = false; // between pwrt_step_begin and pwrt_step_end
  bool ranThisStep = false;
  bool inGroup = false;
  pwrt_status status = PWRT_OK;
  std::string message;
};

std::mutex stateMutex;
// Keyed by pwrt_context_id, not the address: a context created where a
// destroyed one was must be set up again.
std::unordered_map<uint64_t, RankState> states;

RankState &stateOf(const pwrt_context *ctx) {
  std::lock_guard<std::mutex> lock(stateMutex);
  return states[pwrt_context_id(ctx)];
}

/// Records the first failure and fails the open step on every rank; the
/// caller goes on issuing, so that the step's transfers still happen and no
/// peer waits for them.
void fail(RankState &state, pwrt_context *ctx, pwrt_status status,
          const std::string &what) {
  if (state.status != PWRT_OK)
    return;
  state.status = status;
  const char *detail = pwrt_last_error(ctx);
  state.message = what + (detail && *detail ? std::string(": ") + detail : "");
  if (state.inStep)
    pwrt_step_fail(ctx, status, state.message.c_str());
}

/// The state of `ctx` if the rank being issued is this process; nullptr
/// otherwise (the call does nothing).
RankState *issuing(pwrt_context *ctx) {
  RankState &state = stateOf(ctx);
  return state.active ? &state : nullptr;
}

std::vector<std::string> splitNames(const char *names) {
  std::vector<std::string> result;
  std::string current;
  for (const char *c = names; c && *c; ++c) {
    if (*c == ',') {
      result.push_back(current);
      current.clear();
    } else {
      current += *c;
    }
  }
  if (!current.empty())
    result.push_back(current);
  return result;
}

pwrt_status setUp(pwrt_context *ctx, RankState &state, int64_t poolBytes,
                  int32_t numEvents, const char *kernels) {
  std::vector<std::string> names = splitNames(kernels);
  std::vector<const char *> pointers;
  for (const std::string &name : names)
    pointers.push_back(name.c_str());
  pwrt_status status =
      pwrt_require_kernels(ctx, pointers.data(), pointers.size());
  if (status != PWRT_OK)
    return status;
  state.kernels.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i)
    if ((status = pwrt_kernel_lookup(ctx, pointers[i], &state.kernels[i])) !=
        PWRT_OK)
      return status;
  if (poolBytes > 0 && (status = pwrt_pool_create(
                            ctx, static_cast<size_t>(poolBytes), 0)) != PWRT_OK)
    return status;
  state.poolBytes = poolBytes;
  const char *streamNames[2] = {"compute", "comm"};
  for (int i = 0; i < 2; ++i)
    if ((status = pwrt_stream_create(ctx, streamNames[i], &state.streams[i])) !=
        PWRT_OK)
      return status;
  state.events.resize(numEvents);
  for (pwrt_event &event : state.events)
    if ((status = pwrt_event_create(ctx, &event)) != PWRT_OK)
      return status;
  if (state.expertParallel > 1 || !state.allToAlls.empty()) {
    int32_t first =
        pwrt_rank(ctx) / state.expertParallel * state.expertParallel;
    std::vector<int32_t> members;
    for (int32_t i = 0; i < state.expertParallel; ++i)
      members.push_back(first + i);
    if ((status = pwrt_group_create(ctx, members.data(), members.size(),
                                    &state.group)) != PWRT_OK)
      return status;
  }
  state.setUp = true;
  return PWRT_OK;
}

pwrt_buffer bufferAt(pwrt_context *ctx, RankState &state, int64_t offset,
                     int64_t bytes) {
  pwrt_buffer buffer = {nullptr, 0};
  if (offset < 0 || bytes == 0)
    return buffer;
  void *data = nullptr;
  pwrt_status status = pwrt_buffer_at(ctx, static_cast<size_t>(offset),
                                      static_cast<size_t>(bytes), &data);
  if (status != PWRT_OK) {
    fail(state, ctx, status,
         "slot " + std::to_string(offset) + "+" + std::to_string(bytes));
    return buffer;
  }
  buffer.data = data;
  buffer.bytes = static_cast<size_t>(bytes);
  return buffer;
}

bool validStream(pwrt_context *ctx, RankState &state, int32_t stream,
                 const char *what) {
  if (stream == 0 || stream == 1)
    return true;
  fail(state, ctx, PWRT_ERROR_INVALID_ARGUMENT,
       std::string(what) + ": stream " + std::to_string(stream) +
           " (expected 0 or 1)");
  return false;
}

bool validEvent(pwrt_context *ctx, RankState &state, int32_t event,
                const char *what) {
  if (event >= 0 && event < static_cast<int32_t>(state.events.size()))
    return true;
  fail(state, ctx, PWRT_ERROR_INVALID_ARGUMENT,
       std::string(what) + ": event " + std::to_string(event) + " of " +
           std::to_string(state.events.size()));
  return false;
}

// What each call does once its rank is known to be issuing.

void launch(pwrt_context *ctx, RankState &state, int32_t stream, int32_t kernel,
            int32_t kind, int32_t stage, int32_t microbatch,
            const pwrt_buffer (&inputs)[2], const pwrt_buffer (&outputs)[2],
            int32_t layer = -1) {
  if (!validStream(ctx, state, stream, "launch"))
    return;
  static const pwrt_action_kind kinds[] = {
      PWRT_ACTION_FORWARD, PWRT_ACTION_BACKWARD_INPUT,
      PWRT_ACTION_BACKWARD_WEIGHT, PWRT_ACTION_BACKWARD, PWRT_ACTION_OTHER};
  pwrt_kernel_args args = {};
  args.kind = kind >= 0 && kind <= 4 ? kinds[kind] : PWRT_ACTION_OTHER;
  args.stage = stage;
  args.microbatch = microbatch;
  args.stage2 = -1;
  args.microbatch2 = -1;
  args.layer = layer;
  args.inputs = inputs;
  args.num_inputs = kind == PWRT_CG_FORWARD || kind == PWRT_CG_LOSS ? 1 : 2;
  args.outputs = outputs;
  args.num_outputs = kind == PWRT_CG_FORWARD           ? 2
                     : kind == PWRT_CG_BACKWARD_WEIGHT ? 0
                                                       : 1;
  if (kernel < 0 || kernel >= static_cast<int32_t>(state.kernels.size())) {
    fail(state, ctx, PWRT_ERROR_INVALID_ARGUMENT,
         "kernel index " + std::to_string(kernel));
    return;
  }
  pwrt_status status =
      pwrt_launch(ctx, state.streams[stream], state.kernels[kernel], &args);
  if (status != PWRT_OK)
    fail(state, ctx, status, "launch");
}

void allToAll(pwrt_context *ctx, RankState &state, int32_t stream, int32_t name,
              int32_t kind, int32_t stage, int32_t microbatch, int32_t layer,
              int64_t rowBytes, pwrt_buffer send, pwrt_buffer recv) {
  if (!validStream(ctx, state, stream, "all-to-all"))
    return;
  pwrt_all_to_all_args args = {};
  args.send = send.data;
  args.send_bytes = send.bytes;
  args.recv = recv.data;
  args.recv_bytes = recv.bytes;
  args.row_bytes = rowBytes > 0 ? static_cast<size_t>(rowBytes) : 0;
  args.name = name >= 0 && name < static_cast<int32_t>(state.allToAlls.size())
                  ? state.allToAlls[name].c_str()
                  : nullptr;
  args.kind =
      kind == PWRT_CG_BACKWARD ? PWRT_ACTION_BACKWARD : PWRT_ACTION_FORWARD;
  args.stage = stage;
  args.microbatch = microbatch;
  args.layer = layer;
  if (state.group < 0) {
    fail(state, ctx, PWRT_ERROR_INVALID_ARGUMENT,
         "all-to-all without an expert-parallel group "
         "(pwrt_cg_expert_parallel was not called)");
    return;
  }
  // Runs even after a failure, so that the group's peers do not wait.
  pwrt_status status =
      pwrt_all_to_all(ctx, state.streams[stream], state.group, &args);
  if (status != PWRT_OK)
    fail(state, ctx, status, "all-to-all");
}

void record(pwrt_context *ctx, RankState &state, int32_t stream,
            int32_t event) {
  if (!validStream(ctx, state, stream, "event record") ||
      !validEvent(ctx, state, event, "event record"))
    return;
  pwrt_status status =
      pwrt_event_record(ctx, state.streams[stream], state.events[event]);
  if (status != PWRT_OK)
    fail(state, ctx, status, "event record");
}

void wait(pwrt_context *ctx, RankState &state, int32_t stream, int32_t event) {
  if (!validStream(ctx, state, stream, "event wait") ||
      !validEvent(ctx, state, event, "event wait"))
    return;
  pwrt_status status =
      pwrt_stream_wait_event(ctx, state.streams[stream], state.events[event]);
  if (status != PWRT_OK)
    fail(state, ctx, status, "event wait");
}

void groupBegin(pwrt_context *ctx, RankState &state, int32_t stream) {
  if (!validStream(ctx, state, stream, "p2p group begin"))
    return;
  pwrt_status status = pwrt_p2p_group_begin(ctx, state.streams[stream]);
  if (status != PWRT_OK)
    fail(state, ctx, status, "p2p group begin");
}

void groupEnd(pwrt_context *ctx, RankState &state, int32_t stream) {
  if (!validStream(ctx, state, stream, "p2p group end"))
    return;
  pwrt_status status = pwrt_p2p_group_end(ctx, state.streams[stream]);
  if (status != PWRT_OK)
    fail(state, ctx, status, "p2p group end");
}

void transfer(pwrt_context *ctx, RankState &state, int32_t stream, bool isSend,
              int32_t peer, int32_t tag, int32_t payload, int32_t stage,
              int32_t microbatch, pwrt_buffer buffer) {
  const char *what = isSend ? "send" : "recv";
  if (!validStream(ctx, state, stream, what))
    return;
  pwrt_transfer t;
  t.data = buffer.data;
  t.bytes = buffer.bytes;
  // Pipeline peer q is the process of the same expert index on rank q.
  t.peer = peer * state.expertParallel + pwrt_rank(ctx) % state.expertParallel;
  t.tag = tag;
  t.payload = payload == 0 ? PWRT_PAYLOAD_ACTIVATION : PWRT_PAYLOAD_GRADIENT;
  t.stage = stage;
  t.microbatch = microbatch;
  pwrt_status status = isSend ? pwrt_send(ctx, state.streams[stream], &t)
                              : pwrt_recv(ctx, state.streams[stream], &t);
  if (status != PWRT_OK)
    fail(state, ctx, status, what);
}

/// Runs a call table (pwrt_cg_run) for a rank that is issuing.
void run(pwrt_context *ctx, RankState &state, const int32_t *records,
         int64_t numRecords, const int64_t *slots, int64_t numSlots) {
  if (numRecords > 0 && !records) {
    fail(state, ctx, PWRT_ERROR_INVALID_ARGUMENT, "call table: no records");
    return;
  }
  // A malformed record fails the step; the others still run, so that the
  // step's transfers happen.
  auto malformed = [&](int64_t index, const std::string &what) {
    fail(state, ctx, PWRT_ERROR_INVALID_ARGUMENT,
         "call table record " + std::to_string(index) + ": " + what);
  };
  // The buffer of slot `index` (-1: none); false for an index out of range.
  auto slotBuffer = [&](int64_t record, int32_t index, pwrt_buffer &buffer) {
    buffer = {nullptr, 0};
    if (index == -1)
      return true;
    if (index < 0 || index >= numSlots || !slots) {
      malformed(record, "slot " + std::to_string(index) + " of " +
                            std::to_string(numSlots));
      return false;
    }
    buffer = bufferAt(ctx, state, slots[2 * index], slots[2 * index + 1]);
    return true;
  };
  for (int64_t i = 0; i < numRecords; ++i) {
    const int32_t *r = records + i * PWRT_CG_RECORD_WIDTH;
    int32_t stream = r[1];
    switch (r[0]) {
    case PWRT_CG_OP_LAUNCH: {
      pwrt_buffer inputs[2], outputs[2];
      if (slotBuffer(i, r[6], inputs[0]) && slotBuffer(i, r[7], inputs[1]) &&
          slotBuffer(i, r[8], outputs[0]) && slotBuffer(i, r[9], outputs[1]))
        launch(ctx, state, stream, r[2], r[3], r[4], r[5], inputs, outputs);
      break;
    }
    case PWRT_CG_OP_RECORD:
      record(ctx, state, stream, r[2]);
      break;
    case PWRT_CG_OP_WAIT:
      wait(ctx, state, stream, r[2]);
      break;
    case PWRT_CG_OP_GROUP_BEGIN:
      groupBegin(ctx, state, stream);
      break;
    case PWRT_CG_OP_GROUP_END:
      groupEnd(ctx, state, stream);
      break;
    case PWRT_CG_OP_SEND:
    case PWRT_CG_OP_RECV: {
      pwrt_buffer buffer;
      if (slotBuffer(i, r[7], buffer))
        transfer(ctx, state, stream, r[0] == PWRT_CG_OP_SEND, r[2], r[3], r[4],
                 r[5], r[6], buffer);
      break;
    }
    case PWRT_CG_OP_LAUNCH_LAYER: {
      pwrt_buffer inputs[2] = {}, outputs[2] = {};
      if (slotBuffer(i, r[7], inputs[0]) && slotBuffer(i, r[8], outputs[0]))
        launch(ctx, state, stream, r[2], r[3], r[4], r[5], inputs, outputs,
               r[6]);
      break;
    }
    case PWRT_CG_OP_ALL_TO_ALL: {
      pwrt_buffer send, recv;
      if (slotBuffer(i, r[8], send) && slotBuffer(i, r[9], recv))
        allToAll(ctx, state, stream, r[2], r[3], r[4], r[5], r[6], r[7], send,
                 recv);
      break;
    }
    default:
      malformed(i, "unknown op code " + std::to_string(r[0]));
      break;
    }
  }
}
} // namespace

extern "C" {

void pwrt_cg_rank_begin(pwrt_context *ctx, const char *program, int32_t ranks,
                        int32_t rank, int64_t poolBytes, int32_t numEvents,
                        const char *kernels) {
  RankState &state = stateOf(ctx);
  int32_t e = state.expertParallel;
  state.active =
      pwrt_rank(ctx) / e == rank && pwrt_world_size(ctx) == ranks * e;
  if (!state.active)
    return;
  state.ranThisStep = true;
  if (!state.setUp) {
    pwrt_status status = setUp(ctx, state, poolBytes, numEvents, kernels);
    if (status != PWRT_OK) {
      fail(state, ctx, status,
           std::string("setting up ") + program + " rank " +
               std::to_string(rank));
      state.active = false; // the step never began
      return;
    }
  }
  pwrt_status status = pwrt_step_begin(ctx);
  if (status != PWRT_OK) {
    fail(state, ctx, status, "step begin");
    state.active = false;
    return;
  }
  state.inStep = true;
}

void pwrt_cg_launch(pwrt_context *ctx, int32_t stream, int32_t kernel,
                    int32_t kind, int32_t stage, int32_t microbatch,
                    int64_t in0Offset, int64_t in0Bytes, int64_t in1Offset,
                    int64_t in1Bytes, int64_t out0Offset, int64_t out0Bytes,
                    int64_t out1Offset, int64_t out1Bytes) {
  RankState *state = issuing(ctx);
  if (!state)
    return;
  pwrt_buffer inputs[2] = {bufferAt(ctx, *state, in0Offset, in0Bytes),
                           bufferAt(ctx, *state, in1Offset, in1Bytes)};
  pwrt_buffer outputs[2] = {bufferAt(ctx, *state, out0Offset, out0Bytes),
                            bufferAt(ctx, *state, out1Offset, out1Bytes)};
  launch(ctx, *state, stream, kernel, kind, stage, microbatch, inputs, outputs);
}

void pwrt_cg_expert_parallel(pwrt_context *ctx, int32_t expertParallel,
                             const char *allToAlls) {
  RankState &state = stateOf(ctx);
  if (state.setUp)
    return;
  state.expertParallel = expertParallel > 0 ? expertParallel : 1;
  state.allToAlls = splitNames(allToAlls);
}

int32_t pwrt_cg_pipeline_rank(const pwrt_context *ctx, int32_t expertParallel) {
  return pwrt_rank(ctx) / (expertParallel > 0 ? expertParallel : 1);
}

void pwrt_cg_launch_layer(pwrt_context *ctx, int32_t stream, int32_t kernel,
                          int32_t kind, int32_t stage, int32_t microbatch,
                          int32_t layer, int64_t in0Offset, int64_t in0Bytes,
                          int64_t out0Offset, int64_t out0Bytes) {
  RankState *state = issuing(ctx);
  if (!state)
    return;
  pwrt_buffer inputs[2] = {bufferAt(ctx, *state, in0Offset, in0Bytes),
                           {nullptr, 0}};
  pwrt_buffer outputs[2] = {bufferAt(ctx, *state, out0Offset, out0Bytes),
                            {nullptr, 0}};
  launch(ctx, *state, stream, kernel, kind, stage, microbatch, inputs, outputs,
         layer);
}

void pwrt_cg_all_to_all(pwrt_context *ctx, int32_t stream, int32_t name,
                        int32_t kind, int32_t stage, int32_t microbatch,
                        int32_t layer, int64_t rowBytes, int64_t sendOffset,
                        int64_t sendBytes, int64_t recvOffset,
                        int64_t recvBytes) {
  if (RankState *state = issuing(ctx))
    allToAll(ctx, *state, stream, name, kind, stage, microbatch, layer,
             rowBytes, bufferAt(ctx, *state, sendOffset, sendBytes),
             bufferAt(ctx, *state, recvOffset, recvBytes));
}

void pwrt_cg_record(pwrt_context *ctx, int32_t stream, int32_t event) {
  if (RankState *state = issuing(ctx))
    record(ctx, *state, stream, event);
}

void pwrt_cg_wait(pwrt_context *ctx, int32_t stream, int32_t event) {
  if (RankState *state = issuing(ctx))
    wait(ctx, *state, stream, event);
}

void pwrt_cg_group_begin(pwrt_context *ctx, int32_t stream) {
  if (RankState *state = issuing(ctx))
    groupBegin(ctx, *state, stream);
}

void pwrt_cg_send(pwrt_context *ctx, int32_t stream, int32_t peer, int32_t tag,
                  int32_t payload, int32_t stage, int32_t microbatch,
                  int64_t offset, int64_t bytes) {
  if (RankState *state = issuing(ctx))
    transfer(ctx, *state, stream, true, peer, tag, payload, stage, microbatch,
             bufferAt(ctx, *state, offset, bytes));
}

void pwrt_cg_recv(pwrt_context *ctx, int32_t stream, int32_t peer, int32_t tag,
                  int32_t payload, int32_t stage, int32_t microbatch,
                  int64_t offset, int64_t bytes) {
  if (RankState *state = issuing(ctx))
    transfer(ctx, *state, stream, false, peer, tag, payload, stage, microbatch,
             bufferAt(ctx, *state, offset, bytes));
}

void pwrt_cg_group_end(pwrt_context *ctx, int32_t stream) {
  if (RankState *state = issuing(ctx))
    groupEnd(ctx, *state, stream);
}

void pwrt_cg_run(pwrt_context *ctx, const int32_t *records, int64_t num_records,
                 const int64_t *slots, int64_t num_slots) {
  if (RankState *state = issuing(ctx))
    run(ctx, *state, records, num_records, slots, num_slots);
}

void pwrt_cg_rank_end(pwrt_context *ctx) {
  RankState &state = stateOf(ctx);
  if (!state.active)
    return;
  state.active = false;
  state.inStep = false;
  // Always end the step: it is collective, and peers would wait otherwise.
  // Its status already carries a failure reported through pwrt_step_fail.
  pwrt_status status = pwrt_step_end(ctx);
  if (status != PWRT_OK && state.status == PWRT_OK) {
    state.status = status;
    state.message = pwrt_last_error(ctx);
  }
}

pwrt_status pwrt_cg_result(pwrt_context *ctx, const char *program,
                           int32_t ranks) {
  RankState &state = stateOf(ctx);
  pwrt_status status = state.status;
  std::string message = state.message;
  if (!state.ranThisStep && status == PWRT_OK) {
    status = PWRT_ERROR_WORLD_SIZE_MISMATCH;
    int32_t e = state.expertParallel;
    message = std::string(program) + " was compiled for " +
              std::to_string(ranks) + " ranks";
    if (e > 1)
      message += " x " + std::to_string(e) +
                 " expert-parallel processes (world size " +
                 std::to_string(ranks * e) + ")";
    message += " but runs on " + std::to_string(pwrt_world_size(ctx)) +
               " (this is rank " + std::to_string(pwrt_rank(ctx)) + ")";
  }
  state.status = PWRT_OK;
  state.message.clear();
  bool ran = state.ranThisStep;
  state.ranThisStep = false;
  // The runtime prints the errors of a step it ran; only say what it
  // cannot know.
  if (!ran && status != PWRT_OK)
    std::fprintf(stderr, "%s[rank %d]: error: %s\n", program, pwrt_rank(ctx),
                 message.c_str());
  return status;
}

} // extern "C"
