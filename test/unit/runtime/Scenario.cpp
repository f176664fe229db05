//===- Scenario.cpp - Programs for the runtime's mpirun scenarios ---------===//
//
// pw-runtime-scenario MODE, run by check_mpi_run.py under mpirun. Each mode
// is a small program as the compiler would generate it: create a context
// (for 2 ranks where that matters), set up, run a step, report, exit
// non-zero on error. The runtime itself prints the errors.
//
//   mismatch     compiled for 2 ranks; run it on another count
//   kernel-fail  1F1B; the forward of stage 1, micro-batch 2 fails
//   dead-peer    1F1B; rank 1 kills itself (SIGKILL) in that forward
//   trace        1F1B with 20 ms kernels and 2 MiB messages, traced
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"
#include "testing/ScheduleRunner.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

using pwrt::testing::ActionRef;
using pwrt::testing::RunnerOptions;
using pwrt::testing::ScheduleRunner;

namespace {

int runSchedule(pwrt_context *ctx, const RunnerOptions &options) {
  int ranks = pwrt_world_size(ctx);
  pipeweave::schedule::Schedule schedule;
  std::string problem =
      pwrt::testing::buildSchedule("1f1b", ranks, 2 * ranks, schedule);
  if (!problem.empty()) {
    std::fprintf(stderr, "scenario: %s\n", problem.c_str());
    return 2;
  }
  ScheduleRunner runner;
  if (runner.setUp(ctx, schedule, options) != PWRT_OK) {
    std::fprintf(stderr, "scenario: %s\n", pwrt_last_error(ctx));
    return 2;
  }
  const auto &names = ScheduleRunner::kernelNames();
  if (pwrt_require_kernels(ctx, names.data(), names.size()) != PWRT_OK)
    return 1;
  // The runtime printed the error of a failed step; exit non-zero.
  if (runner.runStep() != PWRT_OK)
    return 1;
  double seconds = 0;
  pwrt_step_seconds(ctx, &seconds);
  std::printf("rank %d: step 0 took %.3f s\n", pwrt_rank(ctx), seconds);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  pwrt_context_options options;
  pwrt_context_options_init(&options);
  if (mode == "mismatch")
    options.expected_world_size = 2;

  pwrt_context *ctx = nullptr;
  if (pwrt_context_create(&options, &ctx) != PWRT_OK)
    return 3;

  RunnerOptions runnerOptions;
  int result = 0;
  if (mode == "mismatch") {
    std::printf("rank %d: running on %d ranks\n", pwrt_rank(ctx),
                pwrt_world_size(ctx));
  } else if (mode == "kernel-fail") {
    runnerOptions.kernelMicroseconds = 1000;
    runnerOptions.failAt = ActionRef{PWRT_ACTION_FORWARD, 1, 2};
    result = runSchedule(ctx, runnerOptions);
  } else if (mode == "dead-peer") {
    runnerOptions.kernelMicroseconds = 1000;
    runnerOptions.hookAt = ActionRef{PWRT_ACTION_FORWARD, 1, 2};
    runnerOptions.hook = [] {
      std::fprintf(stderr, "scenario: rank 1 kills itself mid-step\n");
      std::fflush(stderr);
      std::raise(SIGKILL);
    };
    result = runSchedule(ctx, runnerOptions);
  } else if (mode == "trace") {
    runnerOptions.kernelMicroseconds = 20000;
    runnerOptions.messageBytes = 2 << 20;
    result = runSchedule(ctx, runnerOptions);
  } else {
    std::fprintf(stderr, "usage: %s mismatch|kernel-fail|dead-peer|trace\n",
                 argv[0]);
    result = 2;
  }
  if (pwrt_context_destroy(ctx) != PWRT_OK && result == 0)
    result = 1;
  return result;
}
