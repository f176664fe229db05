//===- Dependencies.cpp - Dataflow between pipeline actions ---------------===//
//
// The one definition of what each compute action produces and consumes.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Dependencies.h"

#include <algorithm>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::detail;

Action ComputeOp::asAction() const {
  Action action;
  action.kind = kind;
  action.stage = stage;
  action.microbatch = microbatch;
  return action;
}

PairList<ComputeOp> detail::computeOpsOf(const Action &action) {
  PairList<ComputeOp> ops;
  if (action.kind == ActionKind::OverlapFB) {
    ops.push_back({ActionKind::Forward, action.stage, action.microbatch});
    ops.push_back({ActionKind::Backward, action.stage2, action.microbatch2});
  } else if (action.isCompute()) {
    ops.push_back({action.kind, action.stage, action.microbatch});
  }
  return ops;
}

std::optional<Tensor> detail::outputOf(const ComputeOp &op) {
  switch (op.kind) {
  case ActionKind::Forward:
    return Tensor{Payload::Activation, op.stage, op.microbatch};
  case ActionKind::Backward:
  case ActionKind::BackwardInput:
    return Tensor{Payload::Gradient, op.stage, op.microbatch};
  default:
    return std::nullopt;
  }
}

PairList<Tensor> detail::inputsOf(const Schedule &schedule,
                                  const ComputeOp &op) {
  PairList<Tensor> inputs;
  switch (op.kind) {
  case ActionKind::Forward:
    if (int prev = schedule.prevStage(op.stage); prev >= 0)
      inputs.push_back({Payload::Activation, prev, op.microbatch});
    break;
  case ActionKind::Backward:
  case ActionKind::BackwardInput:
    inputs.push_back({Payload::Activation, op.stage, op.microbatch});
    if (int next = schedule.nextStage(op.stage); next >= 0)
      inputs.push_back({Payload::Gradient, next, op.microbatch});
    break;
  case ActionKind::BackwardWeight:
    inputs.push_back({Payload::Gradient, op.stage, op.microbatch});
    break;
  default:
    break;
  }
  return inputs;
}

int detail::consumerStageOf(const Schedule &schedule, const Tensor &tensor) {
  return tensor.payload == Payload::Activation
             ? schedule.nextStage(tensor.stage)
             : schedule.prevStage(tensor.stage);
}

std::optional<Tensor> detail::tensorOf(const Schedule &schedule,
                                       const Action &comm) {
  if (comm.kind == ActionKind::Send)
    return Tensor{comm.payload, comm.stage, comm.microbatch};
  // A recv names its consumer; the producer sits across the boundary.
  int producer = comm.payload == Payload::Activation
                     ? schedule.prevStage(comm.stage)
                     : schedule.nextStage(comm.stage);
  if (producer < 0)
    return std::nullopt;
  return Tensor{comm.payload, producer, comm.microbatch};
}

int detail::remoteStageOf(const Schedule &schedule, const Action &comm) {
  std::optional<Tensor> tensor = tensorOf(schedule, comm);
  if (!tensor)
    return -1;
  return comm.kind == ActionKind::Send ? consumerStageOf(schedule, *tensor)
                                       : tensor->stage;
}

std::vector<int> detail::stagePlacement(const Schedule &schedule,
                                        bool includeComm) {
  std::vector<int> placement(std::max(schedule.numStages, 0), -1);
  auto place = [&](int stage, int rank) {
    if (stage >= 0 && stage < schedule.numStages && placement[stage] < 0)
      placement[stage] = rank;
  };
  for (int rank = 0, e = schedule.ranks.size(); rank < e; ++rank) {
    for (const Action &action : schedule.ranks[rank]) {
      if (action.isComm()) {
        if (includeComm)
          place(action.stage, rank);
        continue;
      }
      for (const ComputeOp &op : computeOpsOf(action))
        place(op.stage, rank);
    }
  }
  return placement;
}

TensorIndex::TensorIndex(const Schedule &schedule)
    : numStages(std::max(schedule.numStages, 0)),
      microbatchesPerStage(schedule.numDirections > 0
                               ? std::max(schedule.microbatchesPerStage(), 0)
                               : 0) {}

std::size_t TensorIndex::size() const {
  return 2 * numStages * microbatchesPerStage;
}

int64_t TensorIndex::of(const Tensor &tensor) const {
  if (tensor.stage < 0 || tensor.stage >= numStages || tensor.microbatch < 0 ||
      tensor.microbatch >= microbatchesPerStage)
    return -1;
  int64_t payload = tensor.payload == Payload::Activation ? 0 : 1;
  return (payload * numStages + tensor.stage) * microbatchesPerStage +
         tensor.microbatch;
}
