//===- EplbTestSupport.h - Shared helpers of the EPLB tests -----*- C++ -*-===//

#ifndef PIPEWEAVE_TEST_UNIT_EPLB_EPLBTESTSUPPORT_H
#define PIPEWEAVE_TEST_UNIT_EPLB_EPLBTESTSUPPORT_H

#include "passes/Eplb/Eplb.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace pipeweave::eplb::pwtest {

using Ints = std::vector<int64_t>;

inline EplbProblem makeProblem(std::vector<std::vector<double>> weight,
                               int64_t replicas, int64_t groups, int64_t nodes,
                               int64_t gpus) {
  EplbProblem problem;
  problem.numLayers = weight.size();
  problem.numExperts = weight.empty() ? 0 : weight.front().size();
  for (const auto &row : weight)
    for (double load : row)
      problem.loads.push_back(load);
  problem.numReplicas = replicas;
  problem.numGroups = groups;
  problem.numNodes = nodes;
  problem.numGpus = gpus;
  return problem;
}

inline PolicyOptions policy(const char *text) {
  std::string error;
  std::optional<PolicyOptions> options = parsePolicy(text, error);
  EXPECT_TRUE(options) << error;
  return options.value_or(PolicyOptions{});
}

inline Placement solve(const EplbProblem &problem, const char *policyText,
                       std::span<const int64_t> previous = {}) {
  PolicyOptions options = policy(policyText);
  std::optional<InputError> error =
      checkProblem(problem, options, kReferenceFieldNames);
  EXPECT_FALSE(error) << (error ? error->message : "");
  return rebalanceExperts(problem, options, previous);
}

inline std::vector<int64_t> row(const std::vector<int64_t> &flat, int64_t index,
                                int64_t width) {
  return {flat.begin() + index * width, flat.begin() + (index + 1) * width};
}

/// Reads a JSON fixture from test/unit/eplb/fixtures.
inline llvm::json::Value readFixture(const std::string &name) {
  auto buffer = llvm::MemoryBuffer::getFile(std::string(PW_EPLB_FIXTURES_DIR) +
                                            "/" + name);
  if (!buffer) {
    ADD_FAILURE() << "cannot read fixture " << name;
    return nullptr;
  }
  llvm::Expected<llvm::json::Value> value =
      llvm::json::parse((*buffer)->getBuffer());
  if (!value) {
    ADD_FAILURE() << "fixture " << name
                  << " is not JSON: " << llvm::toString(value.takeError());
    return nullptr;
  }
  return std::move(*value);
}

/// A JSON array of arrays (of arrays...) of numbers, flattened.
inline void flatten(const llvm::json::Value &value, std::vector<double> &out) {
  if (const llvm::json::Array *array = value.getAsArray()) {
    for (const llvm::json::Value &element : *array)
      flatten(element, out);
    return;
  }
  std::optional<double> number = value.getAsNumber();
  ASSERT_TRUE(number) << "expected a number";
  out.push_back(*number);
}

inline std::vector<int64_t> flattenInts(const llvm::json::Value *value) {
  std::vector<double> numbers;
  if (value)
    flatten(*value, numbers);
  return {numbers.begin(), numbers.end()};
}

/// A case in the reference's argument form ({"weight": ..., "num_replicas":
/// ...}).
inline EplbProblem problemFromJson(const llvm::json::Object &input) {
  EplbProblem problem;
  const llvm::json::Array *weight = input.getArray("weight");
  EXPECT_TRUE(weight && !weight->empty());
  if (!weight || weight->empty())
    return problem;
  problem.numLayers = weight->size();
  problem.numExperts = (*weight)[0].getAsArray()->size();
  flatten(*input.get("weight"), problem.loads);
  problem.numReplicas = *input.getInteger("num_replicas");
  problem.numGroups = *input.getInteger("num_groups");
  problem.numNodes = *input.getInteger("num_nodes");
  problem.numGpus = *input.getInteger("num_gpus");
  return problem;
}

/// Per-layer random loads: uniform, or Zipf-like (load ~ 1 / rank^skew over
/// a random expert order, with +-10% noise), rounded to whole tokens.
inline std::vector<double> randomLoads(std::mt19937_64 &rng, int64_t layers,
                                       int64_t experts, double skew) {
  std::vector<double> loads;
  std::uniform_real_distribution<double> uniform(0.0, 1000.0);
  std::uniform_real_distribution<double> noise(0.9, 1.1);
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<int64_t> rank(experts);
    for (int64_t e = 0; e < experts; ++e)
      rank[e] = e;
    std::shuffle(rank.begin(), rank.end(), rng);
    for (int64_t e = 0; e < experts; ++e) {
      double load = skew > 0 ? 1e5 / std::pow(rank[e] + 1.0, skew) * noise(rng)
                             : uniform(rng);
      loads.push_back(std::floor(load));
    }
  }
  return loads;
}

inline double maxLoad(const EplbProblem &problem, const Placement &placement,
                      int64_t layer) {
  return measureBalance(problem, placement)[layer].maxGpuLoad;
}

/// Each GPU's experts, sorted (a placement's GPU contents without slot
/// order).
inline std::vector<std::vector<int64_t>> gpuContents(const EplbProblem &problem,
                                                     const Placement &placement,
                                                     int64_t layer) {
  const int64_t perGpu = problem.numReplicas / problem.numGpus;
  std::vector<std::vector<int64_t>> gpus(problem.numGpus);
  for (int64_t slot = 0; slot < problem.numReplicas; ++slot)
    gpus[slot / perGpu].push_back(placement.expertAt(layer, slot));
  for (auto &gpu : gpus)
    std::sort(gpu.begin(), gpu.end());
  return gpus;
}

} // namespace pipeweave::eplb::pwtest

#endif // PIPEWEAVE_TEST_UNIT_EPLB_EPLBTESTSUPPORT_H
