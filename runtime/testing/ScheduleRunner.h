//===- ScheduleRunner.h - Runs a sched schedule on pwrt ---------*- C++ -*-===//
//
// A reference lowering of one rank of a schedule (the schedule library's
// values, with communication inserted) onto the runtime ABI, for tests and
// benchmarks: one compute and one comm stream, one pool slot per (payload,
// stage, micro-batch), each comm group ordered after the compute before it
// and before the compute after it. Its kernels can fill their outputs with
// a pattern and check that their inputs hold the producer's pattern, which
// proves that every message reached the right buffer.
//
//===----------------------------------------------------------------------===//

#ifndef PWRT_TESTING_SCHEDULERUNNER_H
#define PWRT_TESTING_SCHEDULERUNNER_H

#include "passes/Schedule/Schedule.h"
#include "pwrt/pwrt.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pwrt::testing {

namespace schedule = pipeweave::schedule;

/// An action of the schedule, by kind, stage and micro-batch.
struct ActionRef {
  pwrt_action_kind kind = PWRT_ACTION_FORWARD;
  int stage = -1; // -1: none
  int microbatch = -1;
};

struct RunnerOptions {
  size_t messageBytes = 4096; // every activation and gradient
  bool checkData = true;
  int kernelMicroseconds = 0; // each kernel sleeps this long
  /// This action's kernel fails with "injected failure".
  ActionRef failAt;
  /// This action's kernel calls `hook` first (e.g. to kill the rank).
  ActionRef hookAt;
  std::function<void()> hook;
};

/// The schedule of `kind` ("1f1b", ...) with communication, or an error.
/// `stagesPerRank` 0 is the kind's default.
std::string buildSchedule(std::string_view kind, int ranks, int microbatches,
                          schedule::Schedule &result, int stagesPerRank = 0);

class ScheduleRunner {
public:
  /// Prepares rank pwrt_rank(ctx): kernels, pool, streams and events.
  /// Returns the first failing status (pwrt_last_error(ctx) says why).
  pwrt_status setUp(pwrt_context *ctx, const schedule::Schedule &plan,
                    RunnerOptions options);
  /// Enqueues this rank's actions; call inside a step.
  pwrt_status enqueue();
  /// pwrt_step_begin, enqueue, pwrt_step_end.
  pwrt_status runStep();

  /// Changes the failure injection for the following steps.
  void setFailAt(ActionRef action) { options.failAt = action; }

  /// Per step on this rank.
  size_t computeActions() const { return numCompute; }
  size_t transfers() const { return numTransfers; }

  /// Names of the kernels a schedule needs.
  static const std::vector<const char *> &kernelNames();

private:
  static pwrt_status kernel(const pwrt_kernel_args *args);
  pwrt_status runKernel(const pwrt_kernel_args *args);
  pwrt_buffer slot(schedule::Payload payload, int stage, int microbatch);
  int tag(schedule::Payload payload, int producerStage, int microbatch) const;
  pwrt_status launchCompute(const schedule::Action &action);

  pwrt_context *ctx = nullptr;
  schedule::Schedule plan;
  RunnerOptions options;
  int rank = 0;
  char *pool = nullptr;
  pwrt_stream compute = 0, comm = 0;
  pwrt_event computeDone = 0, commDone = 0;
  std::vector<pwrt_kernel> kernelIds; // by pwrt_action_kind
  size_t numCompute = 0, numTransfers = 0;
};

} // namespace pwrt::testing

#endif // PWRT_TESTING_SCHEDULERUNNER_H
