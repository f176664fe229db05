//===- PlannerTest.cpp - Two-stream planning of overlapped pairs ----------===//
//
// Expectations come from outside the planner:
//  - small pairs timed by hand (the working is in the comments);
//  - an oracle in this file: every pair of stream orders of small random
//    pairs, each timed by a fixed-point relaxation written here, gives the
//    true optimum that the planner must reach and the lower bound must not
//    exceed;
//  - DeepSeek-V3's published per-layer-pair order, spelt out by name.
//
//===----------------------------------------------------------------------===//

#include "passes/Overlap/Overlap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace pipeweave::overlap;
using pipeweave::schedule::Component;
using pipeweave::schedule::ComponentKind;
using pipeweave::schedule::StageCost;

namespace {

constexpr Stream C = Stream::Compute;
constexpr Stream M = Stream::Comm;

Item item(std::string name, Phase phase, Stream stream, double duration,
          int layer = 0) {
  return {std::move(name), layer, phase, stream, duration};
}

/// F: a (compute 2), d (comm 3). B: d (comm 1), a I (compute 2), and a W
/// (compute 1) after the I. Ids: 0 fa, 1 fd, 2 bd, 3 bI, 4 bW.
PairProblem tinyPair() {
  PairProblem p;
  p.forward = {item("a", Phase::Forward, C, 2),
               item("d", Phase::Forward, M, 3)};
  p.backward = {item("d", Phase::Backward, M, 1),
                item("a", Phase::BackwardInput, C, 2)};
  p.weights = {item("a", Phase::BackwardWeight, C, 1)};
  p.weightAfter = {1};
  return p;
}

TEST(OverlapEvaluate, TimesAnOrderByHand) {
  PairProblem p = tinyPair();
  // compute: fa [0,2], bI [2,4] (bd ended at 1), bW [4,5];
  // comm: bd [0,1], fd [2,5] (after fa). Both comm items run under compute.
  EvaluateResult result = evaluate(p, {0, 2, 1, 3, 4});
  ASSERT_TRUE(result.evaluation) << result.error;
  const Evaluation &e = *result.evaluation;
  EXPECT_EQ(e.makespan, 5);
  EXPECT_EQ(e.computeBusy, 5);
  EXPECT_EQ(e.commBusy, 4);
  EXPECT_EQ(e.commHidden, 4);
  EXPECT_EQ(e.hiddenFraction(), 1.0);
  ASSERT_EQ(e.timeline.size(), 5u);
  EXPECT_EQ(e.timeline[2].item, 1); // fd, in the order given
  EXPECT_EQ(e.timeline[2].start, 2);
  EXPECT_EQ(e.timeline[2].end, 5);

  // compute: bI [1,3], fa [3,5], bW [5,6]; comm: bd [0,1], fd [5,8].
  // Only fd's first unit runs under compute (bW).
  result = evaluate(p, {3, 0, 2, 1, 4});
  ASSERT_TRUE(result.evaluation) << result.error;
  EXPECT_EQ(result.evaluation->makespan, 8);
  EXPECT_EQ(result.evaluation->commHidden, 1);
  EXPECT_DOUBLE_EQ(result.evaluation->hiddenFraction(), 0.25);
}

TEST(OverlapEvaluate, RejectsOrdersThatCannotRun) {
  PairProblem p = tinyPair();
  // W before its I on the same stream.
  EvaluateResult result = evaluate(p, {0, 4, 2, 1, 3});
  EXPECT_FALSE(result.evaluation);
  EXPECT_EQ(result.error,
            "the order cannot run: the compute stream waits at "
            "backward_weight a layer 0 for backward_input a layer 0, which "
            "its stream runs later");
  // A cycle across streams: bI waits for bd behind fd, fd for fa behind bI.
  result = evaluate(p, {3, 0, 4, 1, 2});
  EXPECT_FALSE(result.evaluation);
  EXPECT_NE(result.error.find("cannot run"), std::string::npos);
  // Not a permutation.
  EXPECT_EQ(evaluate(p, {0, 1, 2, 3}).error,
            "the order has 4 items; the pair has 5");
  EXPECT_EQ(evaluate(p, {0, 1, 2, 3, 3}).error,
            "backward_input a layer 0 appears twice");
  EXPECT_EQ(evaluate(p, {0, 1, 2, 3, 7}).error,
            "item id 7 is out of range (0..4)");
}

TEST(OverlapPlan, TinyPairReachesItsLowerBound) {
  PairProblem p = tinyPair();
  // Compute work 2 + 2 + 1 = 5 bounds it; the first order above reaches 5.
  EXPECT_EQ(lowerBound(p), 5);
  Plan plan = planPair(p);
  EXPECT_TRUE(plan.provenOptimal);
  EXPECT_EQ(plan.evaluation.makespan, 5);
  EXPECT_EQ(plan.lowerBound, 5);
}

TEST(OverlapProblem, ChecksItsInput) {
  PairProblem p = tinyPair();
  EXPECT_EQ(checkProblem(p), std::nullopt);
  p.weightAfter = {0}; // after the comm item d
  EXPECT_EQ(checkProblem(p), "W item 0 runs on the compute stream but "
                             "follows an item on the comm stream");
  p.weightAfter = {2};
  EXPECT_EQ(checkProblem(p), "W item 0 follows backward item 2, out of "
                             "range (0..1)");
  p = tinyPair();
  p.forward[1].duration = -1;
  EXPECT_EQ(checkProblem(p), "forward d layer 0 has duration -1; durations "
                             "must be finite and >= 0");
}

//===----------------------------------------------------------------------===//
// Oracle: every pair of stream orders
//===----------------------------------------------------------------------===//

/// Makespan of the given stream orders, by relaxing start = max(stream
/// predecessor's end, chain predecessor's end) to a fixed point; infinity
/// when they wait on each other in a cycle.
double oracleMakespan(const PairProblem &p, const std::vector<int> &compute,
                      const std::vector<int> &comm) {
  int n = p.numItems();
  std::vector<int> streamBefore(n, -1);
  for (const std::vector<int> *sequence : {&compute, &comm})
    for (size_t k = 1; k < sequence->size(); ++k)
      streamBefore[(*sequence)[k]] = (*sequence)[k - 1];
  std::vector<int> chainBefore(n, -1);
  int nf = p.forward.size(), nb = p.backward.size();
  for (int i = 1; i < nf; ++i)
    chainBefore[i] = i - 1;
  for (int j = 1; j < nb; ++j)
    chainBefore[nf + j] = nf + j - 1;
  for (size_t w = 0; w < p.weights.size(); ++w)
    chainBefore[nf + nb + w] = nf + p.weightAfter[w];
  std::vector<double> end(n, 0.0);
  for (int round = 0; round <= n + 1; ++round) {
    bool changed = false;
    for (int x = 0; x < n; ++x) {
      double start = 0;
      for (int before : {streamBefore[x], chainBefore[x]})
        if (before >= 0)
          start = std::max(start, end[before]);
      double e = start + p.item(x).duration;
      if (e != end[x]) {
        end[x] = e;
        changed = true;
      }
    }
    if (!changed)
      return *std::max_element(end.begin(), end.end());
  }
  // Still growing after n + 1 rounds: a cycle, unless every duration in it
  // is 0; the generator below never makes zero durations.
  return std::numeric_limits<double>::infinity();
}

double bruteForceOptimum(const PairProblem &p) {
  std::vector<int> compute, comm;
  for (int x = 0; x < p.numItems(); ++x)
    (p.item(x).stream == C ? compute : comm).push_back(x);
  double best = std::numeric_limits<double>::infinity();
  std::sort(compute.begin(), compute.end());
  do {
    std::sort(comm.begin(), comm.end());
    do
      best = std::min(best, oracleMakespan(p, compute, comm));
    while (std::next_permutation(comm.begin(), comm.end()));
  } while (std::next_permutation(compute.begin(), compute.end()));
  return best;
}

/// A random pair with at most 6 compute and 5 comm items; durations are
/// small positive integers, so ties and equal W durations are common.
PairProblem randomPair(std::mt19937 &rng) {
  auto uniform = [&](int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(rng);
  };
  for (;;) {
    PairProblem p;
    int nf = uniform(0, 4), nb = uniform(1, 4);
    for (int i = 0; i < nf; ++i)
      p.forward.push_back(item("f" + std::to_string(i), Phase::Forward,
                               uniform(0, 1) ? C : M, uniform(1, 5)));
    for (int j = 0; j < nb; ++j)
      p.backward.push_back(item("b" + std::to_string(j), Phase::Backward,
                                uniform(0, 1) ? C : M, uniform(1, 5)));
    for (int j = 0; j < nb; ++j)
      if (uniform(0, 2) > 0) {
        // Mostly compute Ws after compute items, as in MoE layers; the
        // planner takes a W on either stream after an item on its stream.
        p.weights.push_back(item("w" + std::to_string(j), Phase::BackwardWeight,
                                 p.backward[j].stream, uniform(1, 3)));
        p.weightAfter.push_back(j);
      }
    int computeItems = 0;
    for (int x = 0; x < p.numItems(); ++x)
      computeItems += p.item(x).stream == C;
    if (computeItems <= 6 && p.numItems() - computeItems <= 5)
      return p;
  }
}

TEST(OverlapPlan, MatchesBruteForceOnRandomPairs) {
  std::mt19937 rng(20240808);
  for (int instance = 0; instance < 150; ++instance) {
    PairProblem p = randomPair(rng);
    ASSERT_EQ(checkProblem(p), std::nullopt);
    double optimum = bruteForceOptimum(p);
    SCOPED_TRACE("instance " + std::to_string(instance));
    for (bool seeded : {true, false}) {
      PlanOptions options;
      options.seedWithHeuristics = seeded;
      Plan plan = planPair(p, options);
      EXPECT_TRUE(plan.provenOptimal);
      EXPECT_DOUBLE_EQ(plan.evaluation.makespan, optimum)
          << (seeded ? "seeded" : "search alone");
      // The plan's own figures agree with the oracle's timing of its order.
      std::vector<int> compute, comm;
      for (int x : plan.order)
        (p.item(x).stream == C ? compute : comm).push_back(x);
      EXPECT_DOUBLE_EQ(oracleMakespan(p, compute, comm),
                       plan.evaluation.makespan);
    }
    EXPECT_LE(lowerBound(p), optimum + 1e-12);
  }
}

TEST(OverlapPlan, GivesUpCleanlyOverBudget) {
  std::mt19937 rng(7);
  PairProblem p = randomPair(rng);
  PlanOptions options;
  options.maxLabels = 1;
  options.seedWithHeuristics = false;
  Plan plan = planPair(p, options);
  EXPECT_FALSE(plan.provenOptimal);
  // Still a complete order that runs.
  EXPECT_TRUE(evaluate(p, plan.order).evaluation);
  EXPECT_GE(plan.evaluation.makespan, lowerBound(p));
}

//===----------------------------------------------------------------------===//
// Stages with components; DeepSeek's order
//===----------------------------------------------------------------------===//

Component compute(std::string name, double f, double i, double w) {
  Component c;
  c.name = std::move(name);
  c.forward = f;
  c.backwardInput = i;
  c.backwardWeight = w;
  return c;
}
Component allToAll(std::string name, double f, double b) {
  Component c;
  c.name = std::move(name);
  c.kind = ComponentKind::AllToAll;
  c.forward = f;
  c.backward = b;
  c.expertGroup = "experts";
  return c;
}

StageCost moeStage(int layers) {
  StageCost stage;
  stage.layers = layers;
  stage.components = {compute("attn", 1, 2, 3), allToAll("dispatch", 4, 5),
                      compute("mlp", 6, 7, 8), allToAll("combine", 9, 10)};
  return stage;
}

std::vector<std::string> names(const PairProblem &p, const Order &order) {
  std::vector<std::string> text;
  for (int id : order) {
    const Item &it = p.item(id);
    text.push_back(it.component + ":" + std::string(phaseName(it.phase)) + ":" +
                   std::to_string(it.layer));
  }
  return text;
}

TEST(OverlapComponents, ChainsOfAMoeStage) {
  PairProblem p = pairProblem(moeStage(2), moeStage(2));
  std::vector<int> all(p.numItems());
  for (int x = 0; x < p.numItems(); ++x)
    all[x] = x;
  EXPECT_EQ(
      names(p, all),
      (std::vector<std::string>{
          // forward: layer 0 then 1, each in component order
          "attn:forward:0", "dispatch:forward:0", "mlp:forward:0",
          "combine:forward:0", "attn:forward:1", "dispatch:forward:1",
          "mlp:forward:1", "combine:forward:1",
          // backward: layer 1 then 0, components last first
          "combine:backward:1", "mlp:backward_input:1", "dispatch:backward:1",
          "attn:backward_input:1", "combine:backward:0", "mlp:backward_input:0",
          "dispatch:backward:0", "attn:backward_input:0",
          // W items
          "mlp:backward_weight:1", "attn:backward_weight:1",
          "mlp:backward_weight:0", "attn:backward_weight:0"}));
  EXPECT_EQ(p.weightAfter, (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(p.forward[1].stream, M);
  EXPECT_EQ(p.forward[1].duration, 4);
  EXPECT_EQ(p.backward[0].duration, 10); // combine's backward
  EXPECT_EQ(p.weights[0].duration, 8);   // mlp's W
}

TEST(OverlapComponents, StageWithoutComponentsIsOneChunk) {
  StageCost plain;
  plain.forward = 1.5;
  plain.backward = 2.5;
  PairProblem p = pairProblem(plain, plain);
  ASSERT_EQ(p.forward.size(), 1u);
  ASSERT_EQ(p.backward.size(), 1u);
  EXPECT_TRUE(p.weights.empty());
  EXPECT_EQ(p.forward[0], item("chunk", Phase::Forward, C, 1.5));
  EXPECT_EQ(p.backward[0], item("chunk", Phase::Backward, C, 2.5));
  // Both on the compute stream: nothing overlaps, F + B.
  EXPECT_EQ(planPair(p).evaluation.makespan, 4);
}

TEST(OverlapComponents, DeepSeekOrderByName) {
  PairProblem p = pairProblem(moeStage(2), moeStage(2));
  std::optional<Order> order = deepseekOrder(p);
  ASSERT_TRUE(order);
  EXPECT_EQ(
      names(p, *order),
      (std::vector<std::string>{
          // layer pair 0: forward layer 0 with backward layer 1
          "combine:backward:1", "attn:forward:0", "mlp:backward_input:1",
          "dispatch:forward:0", "dispatch:backward:1", "mlp:backward_weight:1",
          "mlp:forward:0", "attn:backward_input:1", "attn:backward_weight:1",
          "combine:forward:0",
          // layer pair 1: forward layer 1 with backward layer 0
          "combine:backward:0", "attn:forward:1", "mlp:backward_input:0",
          "dispatch:forward:1", "dispatch:backward:0", "mlp:backward_weight:0",
          "mlp:forward:1", "attn:backward_input:0", "attn:backward_weight:0",
          "combine:forward:1"}));
  EXPECT_TRUE(evaluate(p, *order).evaluation);
}

TEST(OverlapComponents, DeepSeekOrderNeedsTheMoeShape) {
  EXPECT_FALSE(deepseekOrder(pairProblem(moeStage(2), moeStage(3))));
  StageCost dense = moeStage(2);
  dense.components.pop_back();
  EXPECT_FALSE(deepseekOrder(pairProblem(dense, dense)));
  StageCost swapped = moeStage(1);
  std::swap(swapped.components[0], swapped.components[1]);
  EXPECT_FALSE(deepseekOrder(pairProblem(swapped, swapped)));
  StageCost plain;
  EXPECT_FALSE(deepseekOrder(pairProblem(plain, plain)));
}

TEST(OverlapComponents, PlanNeverWorseThanDeepSeekOnRandomCosts) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> cost(0.1, 3.0);
  for (int instance = 0; instance < 40; ++instance) {
    StageCost stages[2];
    for (StageCost &stage : stages) {
      stage.layers = 1 + instance % 4;
      stage.components = {compute("attn", cost(rng), cost(rng), cost(rng)),
                          allToAll("dispatch", cost(rng), cost(rng)),
                          compute("mlp", cost(rng), cost(rng), cost(rng)),
                          allToAll("combine", cost(rng), cost(rng))};
    }
    PairProblem p = pairProblem(stages[0], stages[1]);
    Plan plan = planPair(p);
    ASSERT_TRUE(plan.provenOptimal);
    double deepseek = evaluate(p, *deepseekOrder(p)).evaluation->makespan;
    EXPECT_LE(plan.evaluation.makespan, deepseek + 1e-9);
    EXPECT_LE(plan.lowerBound, plan.evaluation.makespan + 1e-9);
  }
}

} // namespace
