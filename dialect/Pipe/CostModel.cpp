//===- CostModel.cpp - resolve a pipeline's per-stage costs ---------------===//

#include "dialect/Moe/MoeDialect.h"
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
  std::optional<int64_t> layers;
  std::optional<std::vector<schedule::Component>> components;
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

static schedule::Component componentOf(ComponentOp op) {
  schedule::Component component;
  component.name = op.getComponentName().str();
  component.forward = asDouble(op.getForward()).value_or(0.0);
  if (op.isCompute()) {
    component.backwardInput = asDouble(op.getBackwardInput()).value_or(0.0);
    component.backwardWeight = asDouble(op.getBackwardWeight()).value_or(0.0);
    if (DictionaryAttr kernels = op.getKernelsAttr()) {
      auto kernel = [&](StringRef name) {
        auto text = kernels.getAs<StringAttr>(name);
        return text ? text.getValue().str() : std::string();
      };
      component.kernels = {kernel("forward"), kernel("backward_input"),
                           kernel("backward_weight")};
    }
    return component;
  }
  component.kind = schedule::ComponentKind::AllToAll;
  // The reverse all-to-all moves the same tokens back.
  component.backward = asDouble(op.getBackward()).value_or(component.forward);
  if (FlatSymbolRefAttr group = op.getExpertGroupAttr())
    component.expertGroup = group.getValue().str();
  component.rowBytes = op.getRowBytes().value_or(0);
  component.rows = op.getRows().value_or(0);
  return component;
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
    } else if (auto layers = dyn_cast<LayersOp>(op)) {
      w.layers = layers.getCount();
      if (!layers.getBody().empty()) {
        w.components.emplace();
        for (ComponentOp component : layers.getBody().getOps<ComponentOp>())
          w.components->push_back(componentOf(component));
      }
    }
  }
}

/// Derives unset values: F, I and W from the components when there are
/// any (see LayersOp), else 1; B = I + W, overlapped = F + B, gradient and
/// memory sizes = activation size.
static schedule::StageCost derive(const Written &w) {
  schedule::StageCost cost;
  double forward = 1.0, backwardInput = 1.0, backwardWeight = 1.0;
  if (w.layers && w.components && !w.components->empty()) {
    cost.layers = static_cast<int>(*w.layers);
    cost.components = *w.components;
    forward = backwardInput = backwardWeight = 0.0;
    for (const schedule::Component &component : cost.components) {
      forward += component.forward;
      backwardInput +=
          component.isCompute() ? component.backwardInput : component.backward;
      backwardWeight += component.backwardWeight;
    }
    forward *= cost.layers;
    backwardInput *= cost.layers;
    backwardWeight *= cost.layers;
  }
  cost.forward = w.forward.value_or(forward);
  cost.backwardInput = w.backwardInput.value_or(backwardInput);
  cost.backwardWeight = w.backwardWeight.value_or(backwardWeight);
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
  model.expertParallel = static_cast<int>(effectiveExpertParallel(pipeline));
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

int64_t pipeweave::pipe::effectiveExpertParallel(PipelineOp pipeline) {
  if (std::optional<uint64_t> degree = pipeline.getExpertParallel())
    return static_cast<int64_t>(*degree);
  int64_t degree = 1;
  pipeline.walk([&](ComponentOp component) {
    FlatSymbolRefAttr name = component.getExpertGroupAttr();
    if (!name)
      return WalkResult::advance();
    // Unresolved names are reported by the symbol-use verifier.
    if (auto group = SymbolTable::lookupNearestSymbolFrom<moe::ExpertGroupOp>(
            pipeline, name)) {
      degree = static_cast<int64_t>(group.getGpus());
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return degree;
}
