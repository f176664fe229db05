//===- NoColocationTest.cpp - no-colocated-replicas (EPLB issue #22) ------===//

#include "EplbTestSupport.h"

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::pwtest;

namespace {

/// Whether any GPU of any layer holds two replicas of one expert.
bool anyColocation(const EplbProblem &problem, const Placement &placement) {
  for (int64_t layer = 0; layer < problem.numLayers; ++layer)
    for (const auto &gpu : gpuContents(problem, placement, layer))
      if (std::adjacent_find(gpu.begin(), gpu.end()) != gpu.end())
        return true;
  return false;
}

// Worked by hand: loads 6 6 6 7 5 on 3 GPUs x 3 slots, one node.
// Replication (both policies): 7 -> 3.5 + 3.5, then 6 -> 3 + 3 for experts
// 0, 1, 2. Per-replica loads in packing order: 5(e4) 3.5(e3) 3.5(e3')
// 3(e0) 3(e1) 3(e2) 3(e0') 3(e1') 3(e2').
//  Reference: g0 e4; g1 e3; g2 e3'; g1 e0 (6.5); g2 e1; g0 e2 (8); g1 e0'
//  (9.5, full); g2 e1' (full); g0 e2': every GPU holds a pair.
//  No colocation: as far as e1 the same; e0' skips g1 (has e0) for g2 (9.5,
//  full); e1' skips g2 for g1 (9.5, full); e2' has only g0 left, which holds
//  e2: g1 hands over e0 (the first of the lightest exchanges, both GPUs at
//  11 and 9.5 after it) and takes e2'.
TEST(EplbNoColocation, SplitsPairsByHand) {
  EplbProblem problem = makeProblem({{6, 6, 6, 7, 5}}, /*replicas=*/9,
                                    /*groups=*/1, /*nodes=*/1, /*gpus=*/3);
  Placement reference = solve(problem, "reference");
  EXPECT_EQ(reference.phy2log, Ints({4, 2, 2, 3, 0, 0, 3, 1, 1}));
  EXPECT_TRUE(anyColocation(problem, reference));

  Placement apart = solve(problem, "no-colocated-replicas");
  EXPECT_EQ(apart.phy2log, Ints({4, 2, 0, 3, 2, 1, 3, 1, 0}));
  EXPECT_EQ(apart.logcnt, Ints({2, 2, 2, 2, 1}));
  // Replica ranks follow slot order beyond the reference.
  EXPECT_EQ(apart.log2phy, Ints({2, 8, 5, 7, 1, 4, 3, 6, 0, -1}));
  EXPECT_FALSE(anyColocation(problem, apart));
  EXPECT_EQ(checkPlacement(problem, apart), std::nullopt);
  EXPECT_DOUBLE_EQ(maxLoad(problem, apart, 0), 11.0);
  EXPECT_DOUBLE_EQ(maxLoad(problem, reference, 0), 11.0);
}

// ReferenceTest's global case: the reference puts both replicas of expert
// 0 on GPU 0; without colocation the second goes to GPU 1 (3 + 3 = 6 there,
// 3 + 2 = 5 on GPU 0).
TEST(EplbNoColocation, GlobalByHand) {
  EplbProblem problem = makeProblem({{6, 3, 2}}, 4, 3, 2, 2);
  Placement apart = solve(problem, "no-colocated-replicas");
  EXPECT_EQ(apart.phy2log, Ints({0, 2, 1, 0}));
  EXPECT_EQ(apart.log2phy, Ints({0, 3, 2, -1, 1, -1}));
  EXPECT_DOUBLE_EQ(maxLoad(problem, apart, 0), 6.0);
}

// An expert heavier than all others together would get 5 replicas on 2
// GPUs; without colocation it gets 2 (one per GPU) and the spare slots go
// to the next largest load per replica: e1, e2, e3 (1 each, first index
// among ties). Packing 50(e0) 50(e0') then the 0.5s in index order e1 e2
// e3 e1' e2' e3' alternates GPUs; e2' skips GPU 1, which holds e2.
TEST(EplbNoColocation, CapsReplicasAtTheGpuCount) {
  EplbProblem problem = makeProblem({{100, 1, 1, 1}}, 8, 1, 1, 2);
  EXPECT_EQ(solve(problem, "reference").logcnt, Ints({5, 1, 1, 1}));
  Placement apart = solve(problem, "no-colocated-replicas");
  EXPECT_EQ(apart.logcnt, Ints({2, 2, 2, 2}));
  EXPECT_EQ(apart.phy2log, Ints({0, 1, 3, 2, 0, 2, 1, 3}));
  EXPECT_DOUBLE_EQ(maxLoad(problem, apart, 0), 51.5);
}

TEST(EplbNoColocation, NeverColocatesOnRandomInputs) {
  std::mt19937_64 rng(5);
  int64_t colocatedByReference = 0;
  for (int trial = 0; trial < 300; ++trial) {
    int64_t nodes = std::uniform_int_distribution<int64_t>(1, 3)(rng);
    int64_t gpus = nodes * std::uniform_int_distribution<int64_t>(1, 4)(rng);
    int64_t groups = nodes * std::uniform_int_distribution<int64_t>(1, 3)(rng);
    int64_t experts =
        groups * std::uniform_int_distribution<int64_t>(1, 4)(rng);
    int64_t perGpu = std::uniform_int_distribution<int64_t>(
        1, std::max<int64_t>(1, experts / nodes))(rng);
    int64_t replicas = gpus * perGpu;
    if (replicas < experts)
      replicas = gpus * ((experts + gpus - 1) / gpus);
    if (replicas / gpus > experts / nodes)
      continue;
    double skew = std::uniform_int_distribution<int>(0, 2)(rng);
    EplbProblem problem;
    problem.numLayers = 2;
    problem.numExperts = experts;
    problem.loads = randomLoads(rng, 2, experts, skew);
    problem.numReplicas = replicas;
    problem.numGroups = groups;
    problem.numNodes = nodes;
    problem.numGpus = gpus;
    SCOPED_TRACE("trial " + std::to_string(trial));
    colocatedByReference += anyColocation(problem, solve(problem, "reference"));
    for (const char *text :
         {"no-colocated-replicas", "no-colocated-replicas,refine"}) {
      Placement apart = solve(problem, text);
      ASSERT_EQ(checkPlacement(problem, apart), std::nullopt) << text;
      ASSERT_FALSE(anyColocation(problem, apart)) << text;
      for (int64_t count : apart.logcnt)
        ASSERT_LE(count, gpus / nodes) << text;
    }
  }
  // The inputs do exercise the problem.
  EXPECT_GT(colocatedByReference, 20);
}

} // namespace
