//===- OverlapBench.cpp - Planning time of overlapped pairs ---------------===//
//
// Time to plan one overlapped pair of MoE chunks exactly, for 4 and 8
// layers per chunk (the benchmark argument): with the DeepSeek-like costs
// of examples/moe/deepseek_like.mlir, and with random component costs
// (a fixed set of 16 instances per size, planned in turn), the latter also
// without the heuristic start the search normally prunes against. The
// labels counter is the number of search labels per plan.
//
//===----------------------------------------------------------------------===//

#include "passes/Overlap/Overlap.h"

#include <benchmark/benchmark.h>

#include <random>

using namespace pipeweave::overlap;
using pipeweave::schedule::Component;
using pipeweave::schedule::ComponentKind;
using pipeweave::schedule::StageCost;

static Component compute(const char *name, double f, double i, double w) {
  Component c;
  c.name = name;
  c.forward = f;
  c.backwardInput = i;
  c.backwardWeight = w;
  return c;
}
static Component allToAll(const char *name, double f, double b) {
  Component c;
  c.name = name;
  c.kind = ComponentKind::AllToAll;
  c.forward = f;
  c.backward = b;
  return c;
}

static StageCost deepseekLike(int layers) {
  StageCost stage;
  stage.layers = layers;
  stage.components = {compute("attn", 4369.75, 9340.75, 2388.5),
                      allToAll("dispatch", 6690.25, 7486.75),
                      compute("mlp", 4603.75, 5306.0, 6378.25),
                      allToAll("combine", 8684.0, 5769.25)};
  return stage;
}

static std::vector<PairProblem> randomPairs(int layers) {
  std::mt19937 rng(layers);
  std::uniform_real_distribution<double> cost(0.2, 3.0);
  std::vector<PairProblem> pairs;
  for (int instance = 0; instance < 16; ++instance) {
    StageCost stages[2];
    for (StageCost &stage : stages) {
      stage.layers = layers;
      stage.components = {compute("attn", cost(rng), cost(rng), cost(rng)),
                          allToAll("dispatch", cost(rng), cost(rng)),
                          compute("mlp", cost(rng), cost(rng), cost(rng)),
                          allToAll("combine", cost(rng), cost(rng))};
    }
    pairs.push_back(pairProblem(stages[0], stages[1]));
  }
  return pairs;
}

static void BM_PlanDeepSeekLike(benchmark::State &state) {
  PairProblem pair =
      pairProblem(deepseekLike(state.range(0)), deepseekLike(state.range(0)));
  int64_t labels = 0;
  for (auto _ : state) {
    Plan plan = planPair(pair);
    labels = plan.labels;
    benchmark::DoNotOptimize(plan);
  }
  state.counters["labels"] = labels;
}
BENCHMARK(BM_PlanDeepSeekLike)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);

static void planRandom(benchmark::State &state, bool seeded) {
  std::vector<PairProblem> pairs = randomPairs(state.range(0));
  PlanOptions options;
  options.seedWithHeuristics = seeded;
  size_t next = 0;
  int64_t labels = 0, plans = 0;
  for (auto _ : state) {
    Plan plan = planPair(pairs[next], options);
    next = (next + 1) % pairs.size();
    labels += plan.labels;
    ++plans;
    benchmark::DoNotOptimize(plan);
  }
  state.counters["labels"] = static_cast<double>(labels) / plans;
}
static void BM_PlanRandom(benchmark::State &state) { planRandom(state, true); }
static void BM_PlanRandomSearchOnly(benchmark::State &state) {
  planRandom(state, false);
}
BENCHMARK(BM_PlanRandom)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanRandomSearchOnly)
    ->Arg(4)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond);
