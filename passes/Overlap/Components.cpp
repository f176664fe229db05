//===- Components.cpp - Pairs of spec stages; DeepSeek's order
//-------------===//

#include "passes/Overlap/Overlap.h"

using namespace pipeweave::overlap;
using pipeweave::schedule::Component;
using pipeweave::schedule::StageCost;

static Stream streamOf(const Component &component) {
  return component.isCompute() ? Stream::Compute : Stream::Comm;
}

PairProblem pipeweave::overlap::pairProblem(const StageCost &forwardStage,
                                            const StageCost &backwardStage) {
  PairProblem problem;
  if (forwardStage.hasComponents()) {
    for (int layer = 0; layer < forwardStage.layers; ++layer)
      for (const Component &component : forwardStage.components)
        problem.forward.push_back({component.name, layer, Phase::Forward,
                                   streamOf(component), component.forward});
  } else {
    problem.forward.push_back(
        {"chunk", 0, Phase::Forward, Stream::Compute, forwardStage.forward});
  }

  if (!backwardStage.hasComponents()) {
    problem.backward.push_back(
        {"chunk", 0, Phase::Backward, Stream::Compute, backwardStage.backward});
    return problem;
  }
  const std::vector<Component> &components = backwardStage.components;
  for (int layer = backwardStage.layers - 1; layer >= 0; --layer) {
    for (auto it = components.rbegin(); it != components.rend(); ++it) {
      if (!it->isCompute()) {
        problem.backward.push_back(
            {it->name, layer, Phase::Backward, Stream::Comm, it->backward});
        continue;
      }
      problem.backward.push_back({it->name, layer, Phase::BackwardInput,
                                  Stream::Compute, it->backwardInput});
      problem.weights.push_back({it->name, layer, Phase::BackwardWeight,
                                 Stream::Compute, it->backwardWeight});
      problem.weightAfter.push_back(static_cast<int>(problem.backward.size()) -
                                    1);
    }
  }
  return problem;
}

std::optional<Order> pipeweave::overlap::deepseekOrder(const PairProblem &p) {
  constexpr Stream kLayerShape[] = {Stream::Compute, Stream::Comm,
                                    Stream::Compute, Stream::Comm};
  int numForward = p.forward.size(), numBackward = p.backward.size();
  if (numForward == 0 || numForward % 4 != 0 || numBackward != numForward ||
      p.weights.size() != static_cast<size_t>(numForward / 2))
    return std::nullopt;
  int layers = numForward / 4;
  // Forward layers in order, each attn, dispatch, mlp, combine; backward
  // layers last first, each combine, mlp, dispatch, attn.
  for (int index = 0; index < numForward; ++index) {
    const Item &forward = p.forward[index];
    const Item &backward = p.backward[index];
    if (forward.stream != kLayerShape[index % 4] ||
        forward.phase != Phase::Forward || forward.layer != index / 4 ||
        backward.stream != kLayerShape[3 - index % 4] ||
        backward.layer != layers - 1 - index / 4)
      return std::nullopt;
  }
  // One W after each backward compute item.
  std::vector<int> weightOf(numBackward, -1);
  for (size_t w = 0; w < p.weights.size(); ++w) {
    int after = p.weightAfter[w];
    if (after < 0 || after >= numBackward || weightOf[after] >= 0 ||
        p.backward[after].stream != Stream::Compute)
      return std::nullopt;
    weightOf[after] = numForward + numBackward + static_cast<int>(w);
  }

  Order order;
  for (int pair = 0; pair < layers; ++pair) {
    int f = 4 * pair;              // attn, dispatch, mlp, combine (F)
    int b = numForward + 4 * pair; // combine, mlp, dispatch, attn (B)
    int mlpWeight = weightOf[4 * pair + 1], attnWeight = weightOf[4 * pair + 3];
    order.insert(order.end(), {b, f, b + 1, f + 1, b + 2, mlpWeight, f + 2,
                               b + 3, attnWeight, f + 3});
  }
  return order;
}
