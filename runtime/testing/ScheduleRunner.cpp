//===- ScheduleRunner.cpp - Runs a sched schedule on pwrt -----------------===//

#include "ScheduleRunner.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

namespace pwrt::testing {

using schedule::Action;
using schedule::ActionKind;
using schedule::Payload;

std::string buildSchedule(std::string_view kind, int ranks, int microbatches,
                          schedule::Schedule &result, int stagesPerRank) {
  auto parsed = schedule::parseScheduleKind(kind);
  if (!parsed)
    return "unknown schedule kind '" + std::string(kind) + "'";
  schedule::ScheduleParams params;
  params.kind = *parsed;
  params.ranks = ranks;
  params.microbatches = microbatches;
  params.stagesPerRank = stagesPerRank;
  if (auto problem = schedule::checkScheduleParams(params))
    return *problem;
  result = schedule::insertCommunication(schedule::generateSchedule(params));
  return "";
}

const std::vector<const char *> &ScheduleRunner::kernelNames() {
  // Indexed by pwrt_action_kind.
  static const std::vector<const char *> names = {"fwd", "bwd_in", "bwd_w",
                                                  "bwd", "overlap"};
  return names;
}

namespace {

pwrt_action_kind kindOf(ActionKind kind) {
  switch (kind) {
  case ActionKind::Forward:
    return PWRT_ACTION_FORWARD;
  case ActionKind::BackwardInput:
    return PWRT_ACTION_BACKWARD_INPUT;
  case ActionKind::BackwardWeight:
    return PWRT_ACTION_BACKWARD_WEIGHT;
  case ActionKind::Backward:
    return PWRT_ACTION_BACKWARD;
  case ActionKind::OverlapFB:
    return PWRT_ACTION_OVERLAP_FB;
  default:
    return PWRT_ACTION_OTHER;
  }
}

uint64_t patternWord(Payload payload, int stage, int microbatch, size_t index) {
  uint64_t key = (uint64_t(payload) + 1) << 40 | uint64_t(stage) << 20 |
                 uint64_t(microbatch);
  return key * 0x9E3779B97F4A7C15ull + index;
}

void fill(const pwrt_buffer &buffer, Payload payload, int stage,
          int microbatch) {
  auto *words = static_cast<uint64_t *>(buffer.data);
  for (size_t i = 0; i < buffer.bytes / 8; ++i)
    words[i] = patternWord(payload, stage, microbatch, i);
}

/// "" if `buffer` holds the pattern of (payload, stage, microbatch).
std::string check(const pwrt_buffer &buffer, Payload payload, int stage,
                  int microbatch) {
  const auto *words = static_cast<const uint64_t *>(buffer.data);
  for (size_t i = 0; i < buffer.bytes / 8; ++i)
    if (words[i] != patternWord(payload, stage, microbatch, i))
      return "input " +
             std::string(payload == Payload::Activation ? "activation"
                                                        : "gradient") +
             " of stage " + std::to_string(stage) + " micro-batch " +
             std::to_string(microbatch) + " is wrong at word " +
             std::to_string(i);
  return "";
}

bool matches(const ActionRef &ref, pwrt_action_kind kind, int stage,
             int microbatch) {
  return ref.stage >= 0 && ref.kind == kind && ref.stage == stage &&
         ref.microbatch == microbatch;
}

} // namespace

pwrt_status ScheduleRunner::setUp(pwrt_context *context,
                                  const schedule::Schedule &sched,
                                  RunnerOptions runnerOptions) {
  ctx = context;
  plan = sched;
  options = std::move(runnerOptions);
  options.messageBytes = options.messageBytes / 8 * 8;
  rank = pwrt_rank(ctx);

  kernelIds.clear();
  for (const char *name : kernelNames()) {
    pwrt_kernel id;
    if (pwrt_status status =
            pwrt_register_kernel(ctx, name, &ScheduleRunner::kernel, this, &id))
      return status;
    kernelIds.push_back(id);
  }
  size_t slots =
      2 * size_t(plan.numStages) * size_t(plan.microbatchesPerStage());
  if (pwrt_status status = pwrt_pool_create(
          ctx, std::max<size_t>(slots * options.messageBytes, 64), 0))
    return status;
  void *base = nullptr;
  if (pwrt_status status = pwrt_buffer_at(ctx, 0, 0, &base))
    return status;
  pool = static_cast<char *>(base);
  if (pwrt_status status = pwrt_stream_create(ctx, "compute", &compute))
    return status;
  if (pwrt_status status = pwrt_stream_create(ctx, "comm", &comm))
    return status;
  if (pwrt_status status = pwrt_event_create(ctx, &computeDone))
    return status;
  if (pwrt_status status = pwrt_event_create(ctx, &commDone))
    return status;

  numCompute = numTransfers = 0;
  for (const Action &action : plan.ranks[size_t(rank)])
    ++(action.isCompute() ? numCompute : numTransfers);
  return PWRT_OK;
}

pwrt_buffer ScheduleRunner::slot(Payload payload, int stage, int microbatch) {
  if (stage < 0)
    return pwrt_buffer{nullptr, 0};
  size_t index = (size_t(payload) * size_t(plan.numStages) + size_t(stage)) *
                     size_t(plan.microbatchesPerStage()) +
                 size_t(microbatch);
  return pwrt_buffer{pool + index * options.messageBytes, options.messageBytes};
}

int ScheduleRunner::tag(Payload payload, int producerStage,
                        int microbatch) const {
  return (int(payload) * plan.numStages + producerStage) *
             plan.microbatchesPerStage() +
         microbatch;
}

pwrt_status ScheduleRunner::launchCompute(const Action &action) {
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  args.layer = -1;
  args.kind = kindOf(action.kind);
  args.stage = action.stage;
  args.microbatch = action.microbatch;
  args.stage2 = action.stage2;
  args.microbatch2 = action.microbatch2;
  // Forward: [activation in] -> [activation out]; backward (and its input
  // half): [gradient in] -> [gradient out]; overlap: both, forward first.
  // A missing neighbour stage is an empty buffer.
  pwrt_buffer inputs[2], outputs[2];
  int forwardStage = -1, backwardStage = -1, forwardMb = -1, backwardMb = -1;
  switch (action.kind) {
  case ActionKind::Forward:
    forwardStage = action.stage, forwardMb = action.microbatch;
    break;
  case ActionKind::Backward:
  case ActionKind::BackwardInput:
    backwardStage = action.stage, backwardMb = action.microbatch;
    break;
  case ActionKind::OverlapFB:
    forwardStage = action.stage, forwardMb = action.microbatch;
    backwardStage = action.stage2, backwardMb = action.microbatch2;
    break;
  default:
    break;
  }
  size_t count = 0;
  if (forwardStage >= 0) {
    inputs[count] =
        slot(Payload::Activation, plan.prevStage(forwardStage), forwardMb);
    outputs[count++] = slot(Payload::Activation, forwardStage, forwardMb);
  }
  if (backwardStage >= 0) {
    inputs[count] =
        slot(Payload::Gradient, plan.nextStage(backwardStage), backwardMb);
    outputs[count++] = slot(Payload::Gradient, backwardStage, backwardMb);
  }
  args.inputs = inputs;
  args.num_inputs = count;
  args.outputs = outputs;
  args.num_outputs = count;
  return pwrt_launch(ctx, compute, kernelIds[size_t(args.kind)], &args);
}

pwrt_status ScheduleRunner::enqueue() {
  const std::vector<Action> &actions = plan.ranks[size_t(rank)];
  bool computeSinceGroup = false;
  bool groupSinceCompute = false; // a receiving group compute must wait for
  for (size_t i = 0; i < actions.size();) {
    if (actions[i].isCompute()) {
      if (groupSinceCompute) {
        if (pwrt_status status = pwrt_stream_wait_event(ctx, compute, commDone))
          return status;
        groupSinceCompute = false;
      }
      if (pwrt_status status = launchCompute(actions[i]))
        return status;
      computeSinceGroup = true;
      ++i;
      continue;
    }
    // A maximal run of comm actions is one group, after the compute that
    // produced what it sends.
    if (computeSinceGroup) {
      if (pwrt_status status = pwrt_event_record(ctx, compute, computeDone))
        return status;
      if (pwrt_status status = pwrt_stream_wait_event(ctx, comm, computeDone))
        return status;
      computeSinceGroup = false;
    }
    if (pwrt_status status = pwrt_p2p_group_begin(ctx, comm))
      return status;
    bool receives = false;
    for (; i < actions.size() && actions[i].isComm(); ++i) {
      const Action &action = actions[i];
      bool isSend = action.kind == ActionKind::Send;
      receives |= !isSend;
      // Buffers and tags are keyed by the producing stage: a send's local
      // stage, the neighbour of a receive's local stage.
      int producer = action.stage;
      if (!isSend)
        producer = action.payload == Payload::Activation
                       ? plan.prevStage(action.stage)
                       : plan.nextStage(action.stage);
      pwrt_buffer buffer = slot(action.payload, producer, action.microbatch);
      pwrt_transfer transfer;
      transfer.data = buffer.data;
      transfer.bytes = buffer.bytes;
      transfer.peer = action.peer;
      transfer.tag = tag(action.payload, producer, action.microbatch);
      transfer.payload = action.payload == Payload::Activation
                             ? PWRT_PAYLOAD_ACTIVATION
                             : PWRT_PAYLOAD_GRADIENT;
      transfer.stage = action.stage;
      transfer.microbatch = action.microbatch;
      if (pwrt_status status = isSend ? pwrt_send(ctx, comm, &transfer)
                                      : pwrt_recv(ctx, comm, &transfer))
        return status;
    }
    if (pwrt_status status = pwrt_p2p_group_end(ctx, comm))
      return status;
    // Compute waits only for groups that bring it data; sends overlap with
    // the compute after them (each slot is written once per step).
    if (receives) {
      if (pwrt_status status = pwrt_event_record(ctx, comm, commDone))
        return status;
      groupSinceCompute = true;
    }
  }
  return PWRT_OK;
}

pwrt_status ScheduleRunner::runStep() {
  if (pwrt_status status = pwrt_step_begin(ctx))
    return status;
  pwrt_status enqueued = enqueue();
  pwrt_status ended = pwrt_step_end(ctx);
  return enqueued != PWRT_OK ? enqueued : ended;
}

pwrt_status ScheduleRunner::kernel(const pwrt_kernel_args *args) {
  return static_cast<ScheduleRunner *>(args->user_data)->runKernel(args);
}

pwrt_status ScheduleRunner::runKernel(const pwrt_kernel_args *args) {
  if (options.kernelMicroseconds > 0)
    std::this_thread::sleep_for(
        std::chrono::microseconds(options.kernelMicroseconds));
  if (options.hook &&
      matches(options.hookAt, args->kind, args->stage, args->microbatch))
    options.hook();
  if (matches(options.failAt, args->kind, args->stage, args->microbatch)) {
    pwrt_kernel_set_error(args, "injected failure");
    return PWRT_ERROR_KERNEL_FAILED;
  }
  if (!options.checkData)
    return PWRT_OK;
  // Forward half first, then backward half (see launchCompute).
  size_t next = 0;
  auto half = [&](Payload payload, int stage, int microbatch,
                  int neighbour) -> std::string {
    const pwrt_buffer &in = args->inputs[next];
    const pwrt_buffer &out = args->outputs[next];
    ++next;
    if (neighbour >= 0 && in.data) {
      std::string problem = check(in, payload, neighbour, microbatch);
      if (!problem.empty())
        return problem;
    }
    fill(out, payload, stage, microbatch);
    return "";
  };
  std::string problem;
  if (args->kind == PWRT_ACTION_FORWARD || args->kind == PWRT_ACTION_OVERLAP_FB)
    problem = half(Payload::Activation, args->stage, args->microbatch,
                   plan.prevStage(args->stage));
  int backwardStage =
      args->kind == PWRT_ACTION_OVERLAP_FB ? args->stage2 : args->stage;
  int backwardMb = args->kind == PWRT_ACTION_OVERLAP_FB ? args->microbatch2
                                                        : args->microbatch;
  if (problem.empty() && (args->kind == PWRT_ACTION_BACKWARD ||
                          args->kind == PWRT_ACTION_BACKWARD_INPUT ||
                          args->kind == PWRT_ACTION_OVERLAP_FB))
    problem = half(Payload::Gradient, backwardStage, backwardMb,
                   plan.nextStage(backwardStage));
  if (problem.empty())
    return PWRT_OK;
  pwrt_kernel_set_error(args, problem.c_str());
  return PWRT_ERROR_KERNEL_FAILED;
}

} // namespace pwrt::testing
