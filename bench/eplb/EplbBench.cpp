//===- EplbBench.cpp - EPLB at DeepSeek-V3 scale --------------------------===//
//
// 58 MoE layers x 256 experts in 8 groups, as DeepSeek-V3:
//   prefill: 288 slots on 4 nodes x 8 GPUs (the hierarchical policy);
//   decode:  320 slots on 64 GPUs of one node.
// Loads per layer: uniform token counts in [0, 1000), or Zipf-like (expert
// of rank r gets 1e5 / r^s tokens, +-10% noise, over a random expert order).
// DeepSeek's Python reference takes about 0.45 s (prefill) and 2.6 s
// (decode) for these sizes.
//
// Arguments: cluster 0 = prefill, 1 = decode; loads 0 = uniform, 1 = Zipf
// s = 1.0, 2 = Zipf s = 1.5 (also in each benchmark's label). Each
// benchmark times one policy on all 58 layers (single thread) and reports,
// against the reference on the same loads:
//   balancedness    mean over layers of mean / max GPU load (vLLM's)
//   gap_to_bound    mean of max GPU load / lower bound - 1
//   max_vs_ref_pct  mean over layers of (policy max / reference max - 1),
//                   in percent (negative: lower maximum load)
//   layers_better, layers_worse  layers whose max GPU load is strictly
//                   lower / higher than the reference's
//   moved_slots     (min-migration) slots whose expert changes, against the
//                   reference's placement for the same loads with +-20%
//                   drift per expert;
//   moved_by_ref    the reference's own count for the same change
//
//===----------------------------------------------------------------------===//

#include "passes/Eplb/Eplb.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace pipeweave::eplb;

namespace {

enum Cluster { Prefill, Decode };
enum LoadKind { Uniform, Zipf1, Zipf15 };

std::vector<double> makeLoads(uint64_t seed, int64_t layers, int64_t experts,
                              LoadKind kind) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1000.0);
  std::uniform_real_distribution<double> noise(0.9, 1.1);
  const double skew = kind == Zipf1 ? 1.0 : 1.5;
  std::vector<double> loads;
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<int64_t> rank(experts);
    for (int64_t e = 0; e < experts; ++e)
      rank[e] = e;
    std::shuffle(rank.begin(), rank.end(), rng);
    for (int64_t e = 0; e < experts; ++e)
      loads.push_back(std::floor(
          kind == Uniform ? uniform(rng)
                          : 1e5 / std::pow(rank[e] + 1.0, skew) * noise(rng)));
  }
  return loads;
}

EplbProblem makeProblem(Cluster cluster, LoadKind kind, uint64_t seed) {
  EplbProblem problem;
  problem.numLayers = 58;
  problem.numExperts = 256;
  problem.numGroups = 8;
  problem.numReplicas = cluster == Prefill ? 288 : 320;
  problem.numNodes = cluster == Prefill ? 4 : 1;
  problem.numGpus = cluster == Prefill ? 32 : 64;
  problem.loads = makeLoads(seed, problem.numLayers, problem.numExperts, kind);
  return problem;
}

void BM_Eplb(benchmark::State &state, const char *policyText) {
  auto cluster = static_cast<Cluster>(state.range(0));
  auto kind = static_cast<LoadKind>(state.range(1));
  state.SetLabel(
      std::string(cluster == Prefill ? "prefill 288/32/4" : "decode 320/64/1") +
      (kind == Uniform ? " uniform"
       : kind == Zipf1 ? " zipf-1.0"
                       : " zipf-1.5"));
  EplbProblem problem = makeProblem(cluster, kind, 42);
  std::string error;
  PolicyOptions options = *parsePolicy(policyText, error);
  std::vector<int64_t> previous;
  if (options.minMigration) {
    // The previous placement: the reference's, for the same loads with
    // +-20% drift per expert (statistics from an earlier window).
    EplbProblem earlier = problem;
    std::mt19937_64 rng(41);
    std::uniform_real_distribution<double> drift(0.8, 1.2);
    for (double &load : earlier.loads)
      load = std::floor(load * drift(rng));
    previous = rebalanceExperts(earlier, PolicyOptions{}).phy2log;
  }
  if (auto problemError =
          checkProblem(problem, options, kReferenceFieldNames)) {
    state.SkipWithError(problemError->message.c_str());
    return;
  }

  Placement placement;
  for (auto _ : state) {
    placement = rebalanceExperts(problem, options, previous);
    benchmark::DoNotOptimize(placement.phy2log.data());
  }

  Placement reference = rebalanceExperts(problem, PolicyOptions{});
  std::vector<LayerBalance> mine = measureBalance(problem, placement);
  std::vector<LayerBalance> theirs = measureBalance(problem, reference);
  double balancedness = 0, gap = 0, versusReference = 0;
  int64_t better = 0, worse = 0;
  for (size_t layer = 0; layer < mine.size(); ++layer) {
    balancedness += mine[layer].balancedness;
    gap += mine[layer].gapToBound;
    versusReference += mine[layer].maxGpuLoad / theirs[layer].maxGpuLoad - 1;
    better += mine[layer].maxGpuLoad < theirs[layer].maxGpuLoad;
    worse += mine[layer].maxGpuLoad > theirs[layer].maxGpuLoad;
  }
  const double layers = static_cast<double>(mine.size());
  state.counters["balancedness"] = balancedness / layers;
  state.counters["gap_to_bound"] = gap / layers;
  state.counters["max_vs_ref_pct"] = 100 * versusReference / layers;
  state.counters["layers_better"] = static_cast<double>(better);
  state.counters["layers_worse"] = static_cast<double>(worse);
  if (options.minMigration) {
    auto sum = [](const std::vector<int64_t> &values) {
      double total = 0;
      for (int64_t value : values)
        total += value;
      return total;
    };
    state.counters["moved_slots"] = sum(countMovedSlots(previous, placement));
    state.counters["moved_by_ref"] = sum(countMovedSlots(previous, reference));
  }
}

void inputs(benchmark::internal::Benchmark *benchmark) {
  benchmark->ArgNames({"cluster", "loads"});
  for (int64_t cluster : {Prefill, Decode})
    for (int64_t kind : {Uniform, Zipf1, Zipf15})
      benchmark->Args({cluster, kind});
  benchmark->Unit(benchmark::kMicrosecond);
}

} // namespace

BENCHMARK_CAPTURE(BM_Eplb, reference, "reference")->Apply(inputs);
BENCHMARK_CAPTURE(BM_Eplb, refine, "refine")->Apply(inputs);
BENCHMARK_CAPTURE(BM_Eplb, no_colocated, "no-colocated-replicas")
    ->Apply(inputs);
BENCHMARK_CAPTURE(BM_Eplb, min_migration, "min-migration")->Apply(inputs);
BENCHMARK_CAPTURE(BM_Eplb, refine_min_migration, "refine,min-migration")
    ->Apply(inputs);
