//===- MigrationTest.cpp - min-migration ----------------------------------===//

#include "EplbTestSupport.h"
#include "passes/Eplb/Internal.h"

#include <map>

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::pwtest;

namespace {

int64_t total(const std::vector<int64_t> &values) {
  int64_t sum = 0;
  for (int64_t value : values)
    sum += value;
  return sum;
}

/// `placement` with GPUs relabelled by `gpuOrder` (new GPU i is old GPU
/// gpuOrder[i]) and each GPU's slots reversed.
std::vector<int64_t> shuffledSlots(const EplbProblem &problem,
                                   const Placement &placement,
                                   const std::vector<int64_t> &gpuOrder) {
  const int64_t perGpu = problem.numReplicas / problem.numGpus;
  std::vector<int64_t> out;
  for (int64_t layer = 0; layer < problem.numLayers; ++layer)
    for (int64_t gpu : gpuOrder)
      for (int64_t r = perGpu - 1; r >= 0; --r)
        out.push_back(placement.expertAt(layer, gpu * perGpu + r));
  return out;
}

TEST(EplbMinMigration, SamePlacementMovesNothing) {
  llvm::json::Value fixture = readFixture("readme_example.json");
  EplbProblem problem =
      problemFromJson(*fixture.getAsObject()->getObject("input"));
  Placement reference = solve(problem, "reference");
  Placement kept = solve(problem, "min-migration", reference.phy2log);
  EXPECT_EQ(kept.phy2log, reference.phy2log);
  EXPECT_EQ(total(countMovedSlots(reference.phy2log, kept)), 0);
}

TEST(EplbMinMigration, UndoesRelabelledGpusAndSlots) {
  // The previous placement is the reference's with nodes swapped, GPUs
  // within each node reordered and slots reversed: min-migration finds it
  // back and moves nothing, where the plain reference moves most slots.
  llvm::json::Value fixture = readFixture("readme_example.json");
  EplbProblem problem =
      problemFromJson(*fixture.getAsObject()->getObject("input"));
  Placement reference = solve(problem, "reference");
  std::vector<int64_t> previous =
      shuffledSlots(problem, reference, {6, 4, 7, 5, 1, 3, 0, 2});
  Placement kept = solve(problem, "min-migration", previous);
  EXPECT_EQ(kept.phy2log, previous);
  EXPECT_EQ(total(countMovedSlots(previous, kept)), 0);
  EXPECT_GT(total(countMovedSlots(previous, reference)), 16);
  EXPECT_EQ(checkPlacement(problem, kept), std::nullopt);
}

// Worked by hand on ReferenceTest's hierarchical case. The reference's GPUs
// hold {4 6 5} {5 4 7} | {0 0 1} {0 2 3}. The previous placement had the
// nodes the other way round and one slot different (slot 11: 6, not 5):
//   [0 3 2] [0 1 0] | [7 5 4] [6 4 6]
// Best relabelling: node 0's experts go to old node 1 ({5 4 7} to the GPU
// with 7 5 4: 3 kept; {4 6 5} to 6 4 6: 2 kept), node 1's to old node 0
// (3 + 3 kept). Kept replicas stay in their old slots; the 5 takes the
// last free slot. One slot changes expert.
TEST(EplbMinMigration, HierarchicalByHand) {
  EplbProblem problem = makeProblem({{9, 1, 2, 2, 6, 6, 3, 0}}, 12, 4, 2, 4);
  std::vector<int64_t> previous = {0, 3, 2, 0, 1, 0, 7, 5, 4, 6, 4, 6};
  Placement kept = solve(problem, "min-migration", previous);
  EXPECT_EQ(kept.phy2log, Ints({0, 3, 2, 0, 1, 0, 7, 5, 4, 6, 4, 5}));
  EXPECT_EQ(countMovedSlots(previous, kept), Ints({1}));
  Placement reference = solve(problem, "reference");
  EXPECT_EQ(countMovedSlots(previous, reference), Ints({12}));
  // Same loads, relabelled.
  EXPECT_DOUBLE_EQ(maxLoad(problem, kept, 0), maxLoad(problem, reference, 0));
  EXPECT_EQ(checkPlacement(problem, kept), std::nullopt);
}

TEST(EplbMinMigration, KeepsEveryReplicaThatStaysOnItsGpu) {
  std::mt19937_64 rng(9);
  struct Shape {
    int64_t experts, replicas, groups, nodes, gpus;
  };
  for (Shape shape : {Shape{64, 72, 8, 2, 8}, Shape{48, 64, 5, 2, 16},
                      Shape{256, 288, 8, 4, 32}}) {
    EplbProblem problem;
    problem.numLayers = 3;
    problem.numExperts = shape.experts;
    problem.numReplicas = shape.replicas;
    problem.numGroups = shape.groups;
    problem.numNodes = shape.nodes;
    problem.numGpus = shape.gpus;
    // Yesterday's loads gave the previous placement; today's differ.
    problem.loads = randomLoads(rng, 3, shape.experts, 1.0);
    std::vector<int64_t> previous = solve(problem, "reference").phy2log;
    problem.loads = randomLoads(rng, 3, shape.experts, 1.0);

    for (const char *text : {"min-migration", "refine,min-migration"}) {
      SCOPED_TRACE(text);
      Placement base =
          solve(problem,
                std::string(text) == "min-migration" ? "reference" : "refine");
      Placement kept = solve(problem, text, previous);
      ASSERT_EQ(checkPlacement(problem, kept), std::nullopt);
      const int64_t perGpu = problem.numReplicas / problem.numGpus;
      for (int64_t layer = 0; layer < problem.numLayers; ++layer) {
        // The same loads as the placement it relabels.
        EXPECT_DOUBLE_EQ(maxLoad(problem, kept, layer),
                         maxLoad(problem, base, layer));
        // On every GPU, each expert it held before and still holds keeps
        // as many of its old slots as it can.
        for (int64_t gpu = 0; gpu < problem.numGpus; ++gpu) {
          std::map<int64_t, int64_t> before, now, stayed;
          for (int64_t r = 0; r < perGpu; ++r) {
            int64_t slot = gpu * perGpu + r;
            int64_t old = previous[layer * problem.numReplicas + slot];
            int64_t current = kept.expertAt(layer, slot);
            ++before[old];
            ++now[current];
            if (old == current)
              ++stayed[old];
          }
          for (auto [expert, count] : before)
            EXPECT_EQ(stayed[expert], std::min(count, now[expert]))
                << "layer " << layer << " gpu " << gpu << " expert " << expert;
        }
      }
      EXPECT_LT(total(countMovedSlots(previous, kept)),
                total(countMovedSlots(previous, base)));
    }
  }
}

TEST(EplbMinMigration, MatchingIsOptimal) {
  // Against all 4! assignments of a 4 x 4 weight matrix.
  std::mt19937_64 rng(13);
  for (int trial = 0; trial < 100; ++trial) {
    std::vector<int64_t> weights(16);
    for (int64_t &w : weights)
      w = std::uniform_int_distribution<int64_t>(0, 5)(rng);
    std::vector<int64_t> match = detail::maxWeightMatching(weights, 4);
    std::vector<int64_t> columns = {0, 1, 2, 3};
    int64_t best = 0;
    do {
      int64_t value = 0;
      for (int64_t row = 0; row < 4; ++row)
        value += weights[row * 4 + columns[row]];
      best = std::max(best, value);
    } while (std::next_permutation(columns.begin(), columns.end()));
    int64_t value = 0;
    std::vector<bool> used(4, false);
    for (int64_t row = 0; row < 4; ++row) {
      ASSERT_FALSE(used[match[row]]);
      used[match[row]] = true;
      value += weights[row * 4 + match[row]];
    }
    EXPECT_EQ(value, best);
  }
}

} // namespace
