//===- ReferenceTest.cpp - The reference policy, bit for bit --------------===//
//
// Expected outputs come from the EPLB README, from the plain-Python oracle
// (oracle/eplb_oracle.py, which reproduces the README first) and from small
// cases worked out by hand in the comments.
//
//===----------------------------------------------------------------------===//

#include "EplbTestSupport.h"

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::pwtest;

namespace {

TEST(EplbReference, ReadmeExample) {
  llvm::json::Value fixture = readFixture("readme_example.json");
  const llvm::json::Object *root = fixture.getAsObject();
  ASSERT_TRUE(root);
  EplbProblem problem = problemFromJson(*root->getObject("input"));
  const llvm::json::Object *expected = root->getObject("expected");
  Placement placement = solve(problem, "reference");
  EXPECT_TRUE(placement.hierarchical);
  EXPECT_EQ(placement.phy2log, flattenInts(expected->get("phy2log")));
  EXPECT_EQ(placement.logcnt, flattenInts(expected->get("logcnt")));
  EXPECT_EQ(checkPlacement(problem, placement), std::nullopt);
}

TEST(EplbReference, OracleGrid) {
  llvm::json::Value fixture = readFixture("oracle_grid.json");
  const llvm::json::Array *cases = fixture.getAsObject()->getArray("cases");
  ASSERT_TRUE(cases);
  ASSERT_GE(cases->size(), 200u);
  int64_t hierarchical = 0, global = 0;
  for (size_t i = 0; i < cases->size(); ++i) {
    const llvm::json::Object *entry = (*cases)[i].getAsObject();
    EplbProblem problem = problemFromJson(*entry->getObject("input"));
    const llvm::json::Object *expected = entry->getObject("expected");
    Placement placement = solve(problem, "reference");
    (placement.hierarchical ? hierarchical : global) += 1;
    SCOPED_TRACE("oracle case " + std::to_string(i) + " (" +
                 entry->getString("kind")->str() + ")");
    EXPECT_EQ(placement.phy2log, flattenInts(expected->get("phy2log")));
    EXPECT_EQ(placement.logcnt, flattenInts(expected->get("logcnt")));
    EXPECT_EQ(placement.log2phy, flattenInts(expected->get("log2phy")));
  }
  // The grid covers both strategies.
  EXPECT_GT(hierarchical, 100);
  EXPECT_GT(global, 25);
}

// Hierarchical, worked by hand. Experts 0..7, groups {0,1} {2,3} {4,5} {6,7}
// with loads 10, 4, 12, 3; 2 nodes with 2 GPUs of 3 slots each.
//  Step 1, groups by load 12, 10, 4, 3 onto the lighter node (first on
//  ties): g2 -> n0, g0 -> n1, g1 -> n1 (10 < 12), g3 -> n0. Node 0 holds
//  experts 4 5 6 7 (loads 6 6 3 0), node 1 experts 0 1 2 3 (9 1 2 2).
//  Step 2, node 0: 2 extra replicas to 6/1 (expert 4, first of the tie)
//  and 6/1 (expert 5): per-replica loads 3 3 3 0 3 3. Node 1: to 9/1 and
//  9/2 (expert 0 twice): 3 1 2 2 3 3.
//  Step 3, node 0 in order 3(e4) 3(e5) 3(e6) 3(e4') 3(e5') 0(e7): GPU0
//  takes e4, e6, e5'; GPU1 e5, e4', e7 (loads 9 and 6). Node 1 in order
//  3(e0) 3(e0') 3(e0'') 2(e2) 2(e3) 1(e1): GPU2 takes e0, e0'', e1; GPU3
//  e0', e2, e3 (7 and 7).
TEST(EplbReference, HierarchicalByHand) {
  EplbProblem problem =
      makeProblem({{9, 1, 2, 2, 6, 6, 3, 0}}, /*replicas=*/12, /*groups=*/4,
                  /*nodes=*/2, /*gpus=*/4);
  Placement placement = solve(problem, "reference");
  EXPECT_TRUE(placement.hierarchical);
  EXPECT_EQ(placement.phy2log, Ints({4, 6, 5, 5, 4, 7, 0, 0, 1, 0, 2, 3}));
  EXPECT_EQ(placement.logcnt, Ints({3, 1, 1, 1, 2, 2, 1, 1}));
  ASSERT_EQ(placement.maxReplicas, 3);
  // Replica ranks: the original is rank 0, extra replicas count up.
  EXPECT_EQ(placement.log2phy,
            Ints({6,         9,  7,  /*e1*/ 8, -1, -1, /*e2*/ 10, -1, -1,
                  /*e3*/ 11, -1, -1, /*e4*/ 0, 4,  -1, /*e5*/ 3,  2,  -1,
                  /*e6*/ 1,  -1, -1, /*e7*/ 5, -1, -1}));
  std::vector<LayerBalance> balance = measureBalance(problem, placement);
  EXPECT_DOUBLE_EQ(balance[0].maxGpuLoad, 9.0);
  EXPECT_DOUBLE_EQ(balance[0].meanGpuLoad, 29.0 / 4);
  EXPECT_DOUBLE_EQ(balance[0].balancedness, 29.0 / 4 / 9.0);
  // Bound: the mean 7.25 beats the best largest replica load (3).
  EXPECT_DOUBLE_EQ(balance[0].lowerBound, 7.25);
  EXPECT_DOUBLE_EQ(balance[0].gapToBound, 9.0 / 7.25 - 1);
}

// Global (3 groups do not split over 2 nodes), worked by hand: one extra
// replica for expert 0 (6 -> 3 + 3); in order 3(e0) 3(e1) 3(e0') 2(e2),
// GPU0 takes e0 and e0' (the first of two equally light GPUs), GPU1 e1, e2.
// Both replicas of expert 0 share a GPU: EPLB issue #22.
TEST(EplbReference, GlobalByHand) {
  EplbProblem problem = makeProblem({{6, 3, 2}}, /*replicas=*/4,
                                    /*groups=*/3, /*nodes=*/2, /*gpus=*/2);
  Placement placement = solve(problem, "reference");
  EXPECT_FALSE(placement.hierarchical);
  EXPECT_EQ(placement.phy2log, Ints({0, 0, 1, 2}));
  EXPECT_EQ(placement.logcnt, Ints({2, 1, 1}));
  EXPECT_EQ(placement.log2phy, Ints({0, 1, 2, -1, 3, -1}));
  std::vector<LayerBalance> balance = measureBalance(problem, placement);
  EXPECT_DOUBLE_EQ(balance[0].maxGpuLoad, 6.0);
  EXPECT_DOUBLE_EQ(balance[0].meanGpuLoad, 5.5);
  EXPECT_DOUBLE_EQ(balance[0].balancedness, 5.5 / 6.0);
  EXPECT_DOUBLE_EQ(balance[0].lowerBound, 5.5);
}

// Forcing a strategy: hierarchical with one node and one group is the
// global strategy, so both give the same placement.
TEST(EplbReference, ForcedStrategies) {
  std::mt19937_64 rng(7);
  EplbProblem problem;
  problem.numLayers = 3;
  problem.numExperts = 12;
  problem.loads = randomLoads(rng, 3, 12, 0);
  problem.numReplicas = 16;
  problem.numGroups = 4;
  problem.numNodes = 2;
  problem.numGpus = 4;
  Placement automatic = solve(problem, "reference");
  Placement forced = solve(problem, "hierarchical");
  EXPECT_TRUE(automatic.hierarchical);
  EXPECT_EQ(automatic.phy2log, forced.phy2log);
  EXPECT_EQ(automatic.log2phy, forced.log2phy);
  Placement global = solve(problem, "global");
  EXPECT_FALSE(global.hierarchical);
  EplbProblem flat = problem;
  flat.numGroups = 1;
  flat.numNodes = 1;
  EXPECT_EQ(global.phy2log, solve(flat, "hierarchical").phy2log);
}

// Loads are rounded to float32 first, as weight.float() does: 16777217 is
// 16777216 in float32, so the two experts tie and the first one gets the
// extra replica (in double the second would). With one GPU, the slots are in
// descending load order: e1 (16777216), e0, e0.
TEST(EplbReference, LoadsAreFloat32) {
  EplbProblem problem = makeProblem({{16777216, 16777217}}, /*replicas=*/3,
                                    /*groups=*/1, /*nodes=*/1, /*gpus=*/1);
  Placement placement = solve(problem, "reference");
  EXPECT_EQ(placement.logcnt, Ints({2, 1}));
  EXPECT_EQ(placement.phy2log, Ints({1, 0, 0}));
  EXPECT_EQ(placement.log2phy, Ints({1, 2, 0, -1}));
}

//===----------------------------------------------------------------------===//
// The building blocks
//===----------------------------------------------------------------------===//

TEST(EplbReplicate, LargestLoadPerReplicaFirst) {
  // 10 6 3: the 4th replica goes to 10/1, the 5th to 6/1 (> 10/2).
  std::vector<float> weights = {10, 6, 3};
  std::vector<int64_t> phy2log(5), rank(5), logcnt(3);
  replicateExperts(weights, 5, phy2log, rank, logcnt);
  EXPECT_EQ(phy2log, Ints({0, 1, 2, 0, 1}));
  EXPECT_EQ(rank, Ints({0, 0, 0, 1, 1}));
  EXPECT_EQ(logcnt, Ints({2, 2, 1}));
}

TEST(EplbReplicate, TiesGoToTheFirstExpert) {
  // 2 4 4: the tie between experts 1 and 2 goes to 1 (torch's max(dim)
  // returns the first index); then 2 2 4 picks 2.
  std::vector<float> weights = {2, 4, 4};
  std::vector<int64_t> phy2log(5), rank(5), logcnt(3);
  replicateExperts(weights, 5, phy2log, rank, logcnt);
  EXPECT_EQ(phy2log, Ints({0, 1, 2, 1, 2}));
  // All idle: every extra replica goes to expert 0 (0/n ties with 0).
  std::vector<float> idle = {0, 0, 0};
  replicateExperts(idle, 5, phy2log, rank, logcnt);
  EXPECT_EQ(phy2log, Ints({0, 1, 2, 0, 0}));
  EXPECT_EQ(rank, Ints({0, 0, 0, 1, 2}));
  EXPECT_EQ(logcnt, Ints({3, 1, 1}));
}

TEST(EplbReplicate, Float32Division) {
  // 1/3 in float32 is 0.3333333433, exactly expert 1's load: after expert 0
  // has 3 replicas the two tie, and the first index wins. In double, 1/3 <
  // 0.3333333433 and expert 1 would get the 5th replica.
  float third = 1.0f / 3.0f;
  std::vector<float> weights = {1.0f, third};
  std::vector<int64_t> phy2log(5), rank(5), logcnt(2);
  replicateExperts(weights, 5, phy2log, rank, logcnt);
  EXPECT_EQ(phy2log, Ints({0, 1, 0, 0, 0}));
  EXPECT_EQ(logcnt, Ints({4, 1}));
}

TEST(EplbPacking, HeaviestFirstOntoLightestPack) {
  // In order 5(i0) 4(i2) 3(i4) 3(i5) 2(i3) 1(i1): p0 5, p1 4, p1 7,
  // p0 8, p1 9 (full), p0 9.
  std::vector<float> weights = {5, 1, 4, 2, 3, 3};
  std::vector<int64_t> pack(6), rank(6);
  balancedPacking(weights, 2, pack, rank);
  EXPECT_EQ(pack, Ints({0, 0, 1, 1, 1, 0}));
  EXPECT_EQ(rank, Ints({0, 2, 0, 2, 1, 1}));
}

TEST(EplbPacking, EqualLoadsKeepIndexOrder) {
  // pipeweave's rule for the reference's unstable sort: equal loads in
  // index order, and the first of equally light packs.
  std::vector<float> weights = {2, 2, 2, 2};
  std::vector<int64_t> pack(4), rank(4);
  balancedPacking(weights, 2, pack, rank);
  EXPECT_EQ(pack, Ints({0, 1, 0, 1}));
  EXPECT_EQ(rank, Ints({0, 0, 1, 1}));
}

TEST(EplbPacking, OneItemPerPackKeepsTheOrder) {
  // groups_per_pack == 1: item i goes to pack i, without sorting.
  std::vector<float> weights = {3, 1, 2};
  std::vector<int64_t> pack(3), rank(3);
  balancedPacking(weights, 3, pack, rank);
  EXPECT_EQ(pack, Ints({0, 1, 2}));
  EXPECT_EQ(rank, Ints({0, 0, 0}));
  // One pack: everything in it, ranked by descending load.
  std::vector<float> three = {1, 3, 2};
  balancedPacking(three, 1, pack, rank);
  EXPECT_EQ(pack, Ints({0, 0, 0}));
  EXPECT_EQ(rank, Ints({2, 0, 1}));
}

TEST(EplbPacking, ManyPacksMatchFewPacks) {
  // Above 16 packs the greedy runs on a heap instead of a linear scan; both
  // must pick the same pack. Compare 32 packs with a hand-rolled scan.
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> small(0, 20);
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t packs = 32, perPack = 3;
    std::vector<float> weights(packs * perPack);
    for (float &w : weights)
      w = static_cast<float>(small(rng)); // many ties
    std::vector<int64_t> pack(weights.size()), rank(weights.size());
    balancedPacking(weights, packs, pack, rank);

    std::vector<int64_t> order(weights.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return weights[a] > weights[b];
    });
    std::vector<float> packWeight(packs, 0);
    std::vector<int64_t> packItems(packs, 0);
    for (int64_t item : order) {
      int64_t best = -1;
      for (int64_t p = 0; p < packs; ++p)
        if (packItems[p] < perPack &&
            (best < 0 || packWeight[p] < packWeight[best]))
          best = p;
      ASSERT_EQ(pack[item], best) << "trial " << trial << " item " << item;
      ASSERT_EQ(rank[item], packItems[best]);
      packWeight[best] += weights[item];
      ++packItems[best];
    }
  }
}

//===----------------------------------------------------------------------===//
// Invariants on large random inputs
//===----------------------------------------------------------------------===//

TEST(EplbReference, InvariantsOnLargeRandomInputs) {
  std::mt19937_64 rng(11);
  struct Shape {
    int64_t experts, replicas, groups, nodes, gpus;
  };
  for (Shape shape : {Shape{256, 288, 8, 4, 32}, Shape{256, 320, 8, 1, 64},
                      Shape{160, 192, 8, 3, 24}, Shape{64, 96, 6, 4, 16},
                      Shape{96, 144, 6, 3, 12}}) {
    for (double skew : {0.0, 1.0, 2.0}) {
      EplbProblem problem;
      problem.numLayers = 4;
      problem.numExperts = shape.experts;
      problem.loads = randomLoads(rng, 4, shape.experts, skew);
      problem.numReplicas = shape.replicas;
      problem.numGroups = shape.groups;
      problem.numNodes = shape.nodes;
      problem.numGpus = shape.gpus;
      Placement placement = solve(problem, "reference");
      ASSERT_EQ(checkPlacement(problem, placement), std::nullopt);
      if (!placement.hierarchical)
        continue;
      // Every expert's replicas, and its whole group, sit on one node.
      const int64_t slotsPerNode = problem.numReplicas / problem.numNodes;
      const int64_t groupSize = problem.numExperts / problem.numGroups;
      for (int64_t layer = 0; layer < problem.numLayers; ++layer) {
        std::vector<int64_t> nodeOfGroup(problem.numGroups, -1);
        for (int64_t slot = 0; slot < problem.numReplicas; ++slot) {
          int64_t group = placement.expertAt(layer, slot) / groupSize;
          int64_t node = slot / slotsPerNode;
          if (nodeOfGroup[group] < 0)
            nodeOfGroup[group] = node;
          ASSERT_EQ(nodeOfGroup[group], node)
              << "group " << group << " spans two nodes in layer " << layer;
        }
      }
    }
  }
}

TEST(EplbCheckPlacement, CatchesBrokenPlacements) {
  EplbProblem problem = makeProblem({{6, 3, 2}}, 4, 3, 2, 2);
  Placement good = solve(problem, "reference");
  ASSERT_EQ(checkPlacement(problem, good), std::nullopt);

  Placement orphan = good; // expert 2 loses its only replica
  orphan.phy2log = {0, 0, 1, 1};
  EXPECT_NE(checkPlacement(problem, orphan), std::nullopt);

  Placement miscounted = good;
  miscounted.logcnt = {1, 2, 1};
  EXPECT_NE(checkPlacement(problem, miscounted), std::nullopt);

  Placement badTable = good; // slot 2 holds expert 1, not expert 0
  badTable.log2phy = {0, 2, 2, -1, 3, -1};
  EXPECT_NE(checkPlacement(problem, badTable), std::nullopt);

  Placement unpadded = good;
  unpadded.log2phy = {0, 1, 2, 2, 3, -1};
  EXPECT_NE(checkPlacement(problem, unpadded), std::nullopt);

  Placement outOfRange = good;
  outOfRange.phy2log = {0, 0, 1, 3};
  EXPECT_NE(checkPlacement(problem, outOfRange), std::nullopt);
}

} // namespace
