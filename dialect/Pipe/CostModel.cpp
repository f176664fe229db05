//===- CostModel.cpp - resolve a pipeline's per-stage costs ---------------===//

#include "dialect/Pipe/PipeDialect.h"

using namespace mlir;
using namespace pipeweave::pipe;
namespace schedule = pipeweave::schedule;

namespace {
/// Field values as written, before defaults are derived from each other.
struct Written {
  std::optional<double> forward, backwardInput, backwardWeight, backward,
      overlapped;
  std::optional<int64_t> activationBytes, gradientBytes, activationMemory;
  schedule::StageKernels kernels;
};
} // namespace

template <typename T>
static void overrideWith(std::optional<T> &into, std::optional<T> value) {
  if (value)
    into = value;
}
static void overrideWith(std::string &into, std::optional<StringRef> value) {
  if (value)
    into = value->str();
}

static std::optional<double> asDouble(std::optional<APFloat> value) {
  if (!value)
    return std::nullopt;
  return value->convertToDouble();
}
static std::optional<int64_t> asInt(std::optional<uint64_t> value) {
  if (!value)
    return std::nullopt;
  return static_cast<int64_t>(*value);
}

/// Applies the field-list ops of one body (pipeline or stage) over `w`.
static void applyBody(Block &body, Written &w) {
  for (Operation &op : body) {
    if (auto cost = dyn_cast<CostOp>(op)) {
      overrideWith(w.forward, asDouble(cost.getForward()));
      overrideWith(w.backwardInput, asDouble(cost.getBackwardInput()));
      overrideWith(w.backwardWeight, asDouble(cost.getBackwardWeight()));
      overrideWith(w.backward, asDouble(cost.getBackward()));
      overrideWith(w.overlapped, asDouble(cost.getOverlapped()));
    } else if (auto tensor = dyn_cast<TensorOp>(op)) {
      overrideWith(w.activationBytes, asInt(tensor.getActivationBytes()));
      overrideWith(w.gradientBytes, asInt(tensor.getGradientBytes()));
      overrideWith(w.activationMemory, asInt(tensor.getActivationMemory()));
    } else if (auto kernels = dyn_cast<KernelsOp>(op)) {
      overrideWith(w.kernels.forward, kernels.getForward());
      overrideWith(w.kernels.backwardInput, kernels.getBackwardInput());
      overrideWith(w.kernels.backwardWeight, kernels.getBackwardWeight());
      overrideWith(w.kernels.backward, kernels.getBackward());
      overrideWith(w.kernels.loss, kernels.getLoss());
    }
  }
}

/// Derives unset values: B = I + W, overlapped = F + B, gradient and memory
/// sizes = activation size.
static schedule::StageCost derive(const Written &w) {
  schedule::StageCost cost;
  cost.forward = w.forward.value_or(1.0);
  cost.backwardInput = w.backwardInput.value_or(1.0);
  cost.backwardWeight = w.backwardWeight.value_or(1.0);
  cost.backward = w.backward.value_or(cost.backwardInput + cost.backwardWeight);
  cost.overlapped = w.overlapped.value_or(cost.forward + cost.backward);
  cost.activationBytes = w.activationBytes.value_or(0);
  cost.gradientBytes = w.gradientBytes.value_or(cost.activationBytes);
  cost.activationMemory = w.activationMemory.value_or(cost.activationBytes);
  cost.kernels = w.kernels;
  return cost;
}

schedule::CostModel pipeweave::pipe::resolveCostModel(PipelineOp pipeline) {
  Written defaults;
  applyBody(pipeline.getBody().front(), defaults);

  schedule::CostModel model;
  for (P2POp p2p : pipeline.getBody().getOps<P2POp>()) {
    model.p2pLatency = asDouble(p2p.getLatency()).value_or(0.0);
    model.p2pBandwidth = asDouble(p2p.getBandwidth());
  }

  int64_t numStages = pipeline.getNumStages();
  model.stages.assign(numStages, derive(defaults));
  for (StageOp stage : pipeline.getBody().getOps<StageOp>()) {
    if (stage.getIndex() >= numStages)
      continue; // reported by the verifier
    Written written = defaults;
    applyBody(stage.getBody().front(), written);
    model.stages[stage.getIndex()] = derive(written);
  }
  return model;
}
