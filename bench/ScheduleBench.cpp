//===- ScheduleBench.cpp - Schedule library benchmarks --------------------===//
//
// Generation, validation, comm insertion and deadlock checking of large 1F1B
// schedules (ranks x micro-batches given as benchmark arguments).
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Schedule.h"

#include <benchmark/benchmark.h>

using namespace pipeweave::schedule;

static Schedule oneFOneB(const benchmark::State &state) {
  ScheduleParams params;
  params.kind = ScheduleKind::OneFOneB;
  params.ranks = state.range(0);
  params.microbatches = state.range(1);
  return generateSchedule(params);
}

/// Reports throughput in compute actions (ranks * micro-batches * 2).
static void setActionCounter(benchmark::State &state) {
  state.counters["actions"] = benchmark::Counter(
      2.0 * state.range(0) * state.range(1) * state.iterations(),
      benchmark::Counter::kIsRate);
}

static void BM_Generate1F1B(benchmark::State &state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(oneFOneB(state));
  setActionCounter(state);
}

static void BM_Validate1F1B(benchmark::State &state) {
  Schedule schedule = oneFOneB(state);
  for (auto _ : state)
    benchmark::DoNotOptimize(validateSchedule(schedule));
  setActionCounter(state);
}

static void BM_ValidateWithComm1F1B(benchmark::State &state) {
  Schedule schedule = insertCommunication(oneFOneB(state));
  for (auto _ : state)
    benchmark::DoNotOptimize(validateSchedule(schedule));
  setActionCounter(state);
}

static void BM_InsertCommunication1F1B(benchmark::State &state) {
  Schedule schedule = oneFOneB(state);
  for (auto _ : state)
    benchmark::DoNotOptimize(insertCommunication(schedule));
  setActionCounter(state);
}

static void BM_CheckDeadlockDataflow1F1B(benchmark::State &state) {
  Schedule schedule = oneFOneB(state);
  for (auto _ : state)
    benchmark::DoNotOptimize(checkDeadlock(schedule));
  setActionCounter(state);
}

static void BM_CheckDeadlockComm1F1B(benchmark::State &state) {
  Schedule schedule = insertCommunication(oneFOneB(state));
  for (auto _ : state)
    benchmark::DoNotOptimize(checkDeadlock(schedule));
  setActionCounter(state);
}

static void sizes(benchmark::internal::Benchmark *benchmark) {
  benchmark->ArgNames({"ranks", "mbs"})
      ->Args({8, 64})
      ->Args({64, 512})
      ->Args({64, 1024})
      ->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Generate1F1B)->Apply(sizes);
BENCHMARK(BM_Validate1F1B)->Apply(sizes);
BENCHMARK(BM_ValidateWithComm1F1B)->Apply(sizes);
BENCHMARK(BM_InsertCommunication1F1B)->Apply(sizes);
BENCHMARK(BM_CheckDeadlockDataflow1F1B)->Apply(sizes);
BENCHMARK(BM_CheckDeadlockComm1F1B)->Apply(sizes);
