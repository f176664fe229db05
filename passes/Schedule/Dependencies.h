//===- Dependencies.h - Dataflow between pipeline actions -------*- C++ -*-===//
//
// Internal to the schedule library: which tensors each compute action
// produces and consumes, and where stages run. Communication insertion,
// deadlock checking and validation all derive their dependencies from here so
// that they agree on the dataflow of a pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SCHEDULE_DEPENDENCIES_H
#define PIPEWEAVE_SCHEDULE_DEPENDENCIES_H

#include "passes/Schedule/Schedule.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace pipeweave::schedule::detail {

/// One F, I, W or B of one (stage, micro-batch); an OverlapFB action is two.
struct ComputeOp {
  ActionKind kind = ActionKind::Forward;
  int stage = 0;
  int microbatch = 0;

  /// The op as a stand-alone action, e.g. for its text "2B1".
  Action asAction() const;
};

/// A short list of at most two elements (ops of an action, inputs of an op).
template <typename T> class PairList {
public:
  void push_back(const T &value) { items[count++] = value; }
  const T *begin() const { return items.data(); }
  const T *end() const { return items.data() + count; }
  int size() const { return count; }
  bool empty() const { return count == 0; }
  const T &operator[](int i) const { return items[i]; }

private:
  std::array<T, 2> items{};
  int count = 0;
};

/// The compute ops of `action` in execution order (an overlap's F part
/// first); empty for send/recv.
PairList<ComputeOp> computeOpsOf(const Action &action);

/// A tensor handed from one compute op to another, named by its producer:
/// the activation F(stage, mb) outputs, or the input gradient that
/// B(stage, mb) or I(stage, mb) outputs.
struct Tensor {
  Payload payload = Payload::Activation;
  int stage = 0;
  int microbatch = 0;
};

/// The tensor `op` produces for other ops; W produces none.
std::optional<Tensor> outputOf(const ComputeOp &op);

/// The tensors `op` consumes. F needs the previous stage's activation (none
/// for a first stage); B and I need their own forward's activation and the
/// next stage's gradient (none for a last stage: the loss is computed
/// locally); W needs the gradient of its own I.
PairList<Tensor> inputsOf(const Schedule &schedule, const ComputeOp &op);

/// The stage that consumes `tensor` across a stage boundary (the next stage
/// for an activation, the previous one for a gradient); -1 at the end of a
/// direction.
int consumerStageOf(const Schedule &schedule, const Tensor &tensor);

/// The tensor a send or recv carries. A recv names its consuming stage, so
/// its producer is the stage across the boundary; std::nullopt when there is
/// none (an activation into a first stage, a gradient into a last one).
std::optional<Tensor> tensorOf(const Schedule &schedule, const Action &comm);

/// The stage at the other end of a send or recv: the consuming stage of a
/// send, the producing stage of a recv; -1 if there is none.
int remoteStageOf(const Schedule &schedule, const Action &comm);

/// For every stage in [0, numStages), the first rank (in rank order) whose
/// actions name it, or -1. Send/recv actions count only with `includeComm`;
/// without it this is the compute placement.
std::vector<int> stagePlacement(const Schedule &schedule, bool includeComm);

/// Dense numbering of the in-range tensors of a schedule, for flat arrays.
class TensorIndex {
public:
  explicit TensorIndex(const Schedule &schedule);
  std::size_t size() const;
  /// The tensor's number, or -1 if its stage or micro-batch is out of range.
  int64_t of(const Tensor &tensor) const;

private:
  int64_t numStages;
  int64_t microbatchesPerStage;
};

} // namespace pipeweave::schedule::detail

#endif // PIPEWEAVE_SCHEDULE_DEPENDENCIES_H
