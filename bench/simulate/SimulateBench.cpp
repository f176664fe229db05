//===- SimulateBench.cpp - Simulator and report benchmarks ----------------===//
//
// Simulation of large DualPipe and 1F1B schedules (ranks x micro-batches as
// benchmark arguments), reported in compute actions per second, and the cost
// of the report formats on a DeepSeek-sized DualPipe.
//
//===----------------------------------------------------------------------===//

#include "passes/Simulate/Report.h"
#include "passes/Simulate/Simulator.h"

#include <benchmark/benchmark.h>

using namespace pipeweave::schedule;
using namespace pipeweave::simulate;

static Schedule generate(ScheduleKind kind, int ranks, int microbatches) {
  ScheduleParams params;
  params.kind = kind;
  params.ranks = ranks;
  params.microbatches = microbatches;
  return generateSchedule(params);
}

/// DualPipe's README costs: F = I = W = 1, B = 2, F&B = 2.5, with a transfer
/// cost so that every cross-rank edge takes the arithmetic path.
static CostModel benchCosts(const Schedule &schedule) {
  CostModel costs = uniformCosts(schedule.numStages, 1.0, 1.0, 1.0, 2.5);
  costs.p2pLatency = 0.01;
  costs.p2pBandwidth = 5.0e10;
  for (StageCost &stage : costs.stages)
    stage.activationBytes = stage.gradientBytes = stage.activationMemory =
        1 << 20;
  return costs;
}

static int64_t computeActions(const Schedule &schedule) {
  int64_t count = 0;
  for (const std::vector<Action> &rank : schedule.ranks)
    for (const Action &action : rank)
      count += action.isCompute();
  return count;
}

static void runSimulation(benchmark::State &state, ScheduleKind kind) {
  Schedule schedule = generate(kind, state.range(0), state.range(1));
  CostModel costs = benchCosts(schedule);
  for (auto _ : state)
    benchmark::DoNotOptimize(simulate(schedule, costs));
  state.counters["actions"] = benchmark::Counter(
      static_cast<double>(computeActions(schedule) * state.iterations()),
      benchmark::Counter::kIsRate);
}

static void BM_SimulateDualPipe(benchmark::State &state) {
  runSimulation(state, ScheduleKind::DualPipe);
}
static void BM_Simulate1F1B(benchmark::State &state) {
  runSimulation(state, ScheduleKind::OneFOneB);
}
static void BM_SimulateZeroBubbleV(benchmark::State &state) {
  runSimulation(state, ScheduleKind::ZeroBubbleV);
}

/// Simulation of a schedule that already carries send/recv actions.
static void BM_SimulateDualPipeWithComm(benchmark::State &state) {
  Schedule schedule = insertCommunication(
      generate(ScheduleKind::DualPipe, state.range(0), state.range(1)));
  CostModel costs = benchCosts(schedule);
  for (auto _ : state)
    benchmark::DoNotOptimize(simulate(schedule, costs));
  state.counters["actions"] = benchmark::Counter(
      static_cast<double>(computeActions(schedule) * state.iterations()),
      benchmark::Counter::kIsRate);
}

/// Report formats of one simulated DualPipe.
template <std::string (*Format)(const Simulation &)>
static void runFormat(benchmark::State &state) {
  Schedule schedule =
      generate(ScheduleKind::DualPipe, state.range(0), state.range(1));
  Simulation simulation = *simulate(schedule, benchCosts(schedule)).simulation;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = Format(simulation);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["output_bytes"] = static_cast<double>(bytes);
  state.counters["actions"] = benchmark::Counter(
      static_cast<double>(simulation.numActions() * state.iterations()),
      benchmark::Counter::kIsRate);
}

static std::string reportJson(const Simulation &s) {
  return formatReportJson(s);
}
static std::string svgTimeline(const Simulation &s) {
  return formatSvgTimeline(s);
}
static std::string chromeTrace(const Simulation &s) {
  return formatChromeTrace(s);
}

BENCHMARK(BM_SimulateDualPipe)
    ->Args({8, 20})
    ->Args({16, 256})
    ->Args({64, 256})
    ->Args({64, 1024})
    ->Args({64, 4096})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Simulate1F1B)->Args({64, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimulateZeroBubbleV)
    ->Args({64, 1024})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimulateDualPipeWithComm)
    ->Args({64, 1024})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(runFormat<reportJson>)
    ->Name("BM_FormatReportJson")
    ->Args({64, 1024})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(runFormat<svgTimeline>)
    ->Name("BM_FormatSvgTimeline")
    ->Args({64, 1024})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(runFormat<chromeTrace>)
    ->Name("BM_FormatChromeTrace")
    ->Args({64, 1024})
    ->Unit(benchmark::kMillisecond);
