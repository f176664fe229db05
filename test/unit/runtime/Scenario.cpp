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
//   a2a-dead-peer  all-to-alls among all ranks, one per micro-batch after
//                a kernel that writes its rows; rank 1 kills itself
//                (SIGKILL) in that kernel of micro-batch 2
//
//===----------------------------------------------------------------------===//

#include "pwrt/pwrt.h"
#include "testing/ScheduleRunner.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

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

struct DispatchState {
  int ranks = 0;
};

/// Writes one row (the micro-batch number) for every member; rank 1 dies
/// in micro-batch 2.
pwrt_status dispatchPrep(const pwrt_kernel_args *args) {
  int ranks = static_cast<DispatchState *>(args->user_data)->ranks;
  if (args->rank == 1 && args->microbatch == 2) {
    std::fprintf(stderr, "scenario: rank 1 kills itself before all-to-all "
                         "'dispatch' of micro-batch 2\n");
    std::fflush(stderr);
    std::raise(SIGKILL);
  }
  auto *send = static_cast<int64_t *>(args->outputs[0].data);
  for (int peer = 0; peer < ranks; ++peer) {
    send[peer] = 1;
    send[ranks + peer] = args->microbatch;
  }
  return PWRT_OK;
}

int runAllToAlls(pwrt_context *ctx) {
  DispatchState state{pwrt_world_size(ctx)};
  int ranks = state.ranks;
  std::vector<int32_t> members;
  for (int r = 0; r < ranks; ++r)
    members.push_back(r);
  pwrt_group world;
  pwrt_stream compute, comm;
  pwrt_kernel prep;
  constexpr int kMicrobatches = 4;
  size_t bufferBytes = size_t(2 * ranks) * sizeof(int64_t);
  // Each micro-batch's rows are written after the previous exchange, so
  // rank 1 dies with exchanges 0 and 1 done and 2 waited for.
  std::vector<pwrt_event> written(kMicrobatches), exchanged(kMicrobatches);
  if (pwrt_group_create(ctx, members.data(), members.size(), &world) !=
          PWRT_OK ||
      pwrt_register_kernel(ctx, "dispatch_prep", dispatchPrep, &state, &prep) !=
          PWRT_OK ||
      pwrt_pool_create(ctx, 2 * kMicrobatches * bufferBytes, 0) != PWRT_OK ||
      pwrt_stream_create(ctx, "compute", &compute) != PWRT_OK ||
      pwrt_stream_create(ctx, "comm", &comm) != PWRT_OK) {
    std::fprintf(stderr, "scenario: %s\n", pwrt_last_error(ctx));
    return 2;
  }
  for (auto *events : {&written, &exchanged})
    for (pwrt_event &event : *events)
      pwrt_event_create(ctx, &event);
  pwrt_step_begin(ctx);
  for (int mb = 0; mb < kMicrobatches; ++mb) {
    void *send = nullptr, *recv = nullptr;
    pwrt_buffer_at(ctx, 2 * mb * bufferBytes, bufferBytes, &send);
    pwrt_buffer_at(ctx, (2 * mb + 1) * bufferBytes, bufferBytes, &recv);
    pwrt_buffer out = {send, bufferBytes};
    pwrt_kernel_args args;
    std::memset(&args, 0, sizeof(args));
    args.layer = -1;
    args.stage = 0;
    args.microbatch = mb;
    args.outputs = &out;
    args.num_outputs = 1;
    if (mb > 0)
      pwrt_stream_wait_event(ctx, compute, exchanged[size_t(mb - 1)]);
    pwrt_launch(ctx, compute, prep, &args);
    pwrt_event_record(ctx, compute, written[size_t(mb)]);
    pwrt_stream_wait_event(ctx, comm, written[size_t(mb)]);
    pwrt_all_to_all_args a2a;
    std::memset(&a2a, 0, sizeof(a2a));
    a2a.send = send;
    a2a.send_bytes = bufferBytes;
    a2a.recv = recv;
    a2a.recv_bytes = bufferBytes;
    a2a.row_bytes = sizeof(int64_t);
    a2a.name = "dispatch";
    a2a.kind = PWRT_ACTION_FORWARD;
    a2a.stage = 0;
    a2a.microbatch = mb;
    a2a.layer = 0;
    pwrt_all_to_all(ctx, comm, world, &a2a);
    pwrt_event_record(ctx, comm, exchanged[size_t(mb)]);
  }
  if (pwrt_step_end(ctx) != PWRT_OK)
    return 1;
  std::printf("rank %d: all-to-alls done\n", pwrt_rank(ctx));
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
  } else if (mode == "a2a-dead-peer") {
    result = runAllToAlls(ctx);
  } else if (mode == "trace") {
    runnerOptions.kernelMicroseconds = 20000;
    runnerOptions.messageBytes = 2 << 20;
    result = runSchedule(ctx, runnerOptions);
  } else {
    std::fprintf(
        stderr,
        "usage: %s mismatch|kernel-fail|dead-peer|a2a-dead-peer|trace\n",
        argv[0]);
    result = 2;
  }
  if (pwrt_context_destroy(ctx) != PWRT_OK && result == 0)
    result = 1;
  return result;
}
