//===- RuntimeBench.cpp - Runtime overhead per action ---------------------===//
//
// Time per action of the host backend when kernels do nothing, so that all
// of it is runtime overhead: enqueueing, waking stream threads, events,
// MPI transfers and the end-of-step agreement. One iteration is one step;
// `us_per_action` is the step's wall time divided by the actions (kernel
// launches and transfers; event records and waits are not counted) this
// rank runs in it. Under mpirun every rank runs the same fixed number of
// steps and rank 0 reports.
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"
#include "testing/ScheduleRunner.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using pwrt::testing::RunnerOptions;
using pwrt::testing::ScheduleRunner;

constexpr int kSteps = 200; // fixed: ranks must run the same steps

pwrt_context *createContext(benchmark::State &state) {
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  options.trace_path = "";
  pwrt_context *ctx = nullptr;
  if (pwrt_context_create(&options, &ctx) != PWRT_OK)
    state.SkipWithError(pwrt_last_error(nullptr));
  return ctx;
}

pwrt_status emptyKernel(const pwrt_kernel_args *) { return PWRT_OK; }

/// Runs `enqueue` as one step per iteration and reports the step time.
template <typename Enqueue>
void runSteps(benchmark::State &state, pwrt_context *ctx, double actions,
              Enqueue &&enqueue) {
  double total = 0;
  for (auto _ : state) {
    if (pwrt_step_begin(ctx) != PWRT_OK || enqueue() != PWRT_OK ||
        pwrt_step_end(ctx) != PWRT_OK) {
      state.SkipWithError(pwrt_last_error(ctx));
      break;
    }
    double seconds = 0;
    pwrt_step_seconds(ctx, &seconds);
    state.SetIterationTime(seconds);
    total += seconds;
  }
  state.counters["actions"] = actions;
  state.counters["us_per_action"] =
      1e6 * total / (actions * double(state.iterations()));
}

/// Empty kernels on one stream.
void BM_OneStream(benchmark::State &state) {
  pwrt_context *ctx = createContext(state);
  if (!ctx)
    return;
  int launches = int(state.range(0));
  pwrt_kernel kernel;
  pwrt_stream stream;
  pwrt_register_kernel(ctx, "empty", emptyKernel, nullptr, &kernel);
  pwrt_stream_create(ctx, "compute", &stream);
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  args.layer = -1;
  runSteps(state, ctx, launches, [&] {
    for (int i = 0; i < launches; ++i) {
      args.microbatch = i;
      if (pwrt_status status = pwrt_launch(ctx, stream, kernel, &args))
        return status;
    }
    return PWRT_OK;
  });
  pwrt_context_destroy(ctx);
}

/// Empty kernels alternating between two streams, each waiting for an
/// event recorded after the other's kernel: every action is a hand-over
/// between threads (the worst case).
void BM_TwoStreamsHandOver(benchmark::State &state) {
  pwrt_context *ctx = createContext(state);
  if (!ctx)
    return;
  int launches = int(state.range(0));
  pwrt_kernel kernel;
  pwrt_stream streams[2];
  pwrt_event events[2];
  pwrt_register_kernel(ctx, "empty", emptyKernel, nullptr, &kernel);
  pwrt_stream_create(ctx, "compute", &streams[0]);
  pwrt_stream_create(ctx, "comm", &streams[1]);
  pwrt_event_create(ctx, &events[0]);
  pwrt_event_create(ctx, &events[1]);
  pwrt_kernel_args args;
  std::memset(&args, 0, sizeof(args));
  args.layer = -1;
  runSteps(state, ctx, launches, [&] {
    for (int i = 0; i < launches; ++i) {
      int s = i % 2;
      if (pwrt_status status =
              pwrt_stream_wait_event(ctx, streams[s], events[1 - s]))
        return status;
      if (pwrt_status status = pwrt_launch(ctx, streams[s], kernel, &args))
        return status;
      if (pwrt_status status = pwrt_event_record(ctx, streams[s], events[s]))
        return status;
    }
    return PWRT_OK;
  });
  pwrt_context_destroy(ctx);
}

/// A whole schedule (compute and comm streams, groups, 64-byte messages)
/// with empty kernels, on as many ranks as the job has.
void BM_Schedule(benchmark::State &state, const char *kind) {
  pwrt_context *ctx = createContext(state);
  if (!ctx)
    return;
  int ranks = pwrt_world_size(ctx);
  int microbatches = int(state.range(0)) * ranks;
  pipeweave::schedule::Schedule schedule;
  std::string problem =
      pwrt::testing::buildSchedule(kind, ranks, microbatches, schedule);
  if (!problem.empty()) {
    state.SkipWithError(problem.c_str());
    pwrt_context_destroy(ctx);
    return;
  }
  RunnerOptions options;
  options.checkData = false;
  options.messageBytes = 64;
  ScheduleRunner runner;
  if (runner.setUp(ctx, schedule, options) != PWRT_OK) {
    state.SkipWithError(pwrt_last_error(ctx));
    pwrt_context_destroy(ctx);
    return;
  }
  state.counters["ranks"] = ranks;
  state.counters["transfers"] = double(runner.transfers());
  runSteps(state, ctx, double(runner.computeActions() + runner.transfers()),
           [&] { return runner.enqueue(); });
  pwrt_context_destroy(ctx);
}

class NullReporter : public benchmark::BenchmarkReporter {
public:
  bool ReportContext(const Context &) override { return true; }
  void ReportRuns(const std::vector<Run> &) override {}
};

} // namespace

BENCHMARK(BM_OneStream)->Arg(1000)->Iterations(kSteps)->UseManualTime();
BENCHMARK(BM_TwoStreamsHandOver)
    ->Arg(1000)
    ->Iterations(kSteps)
    ->UseManualTime();
// Argument: micro-batches per rank.
BENCHMARK_CAPTURE(BM_Schedule, 1f1b, "1f1b")
    ->Arg(8)
    ->Iterations(kSteps)
    ->UseManualTime();
BENCHMARK_CAPTURE(BM_Schedule, zb_h1, "zb-h1")
    ->Arg(8)
    ->Iterations(kSteps)
    ->UseManualTime();
BENCHMARK_CAPTURE(BM_Schedule, dualpipev, "dualpipev")
    ->Arg(8)
    ->Iterations(kSteps)
    ->UseManualTime();

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  // Open MPI sets this in every rank it launches; other ranks stay quiet.
  const char *rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (rank && std::strcmp(rank, "0") != 0) {
    NullReporter quiet;
    benchmark::RunSpecifiedBenchmarks(&quiet);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}
