//===- CostModel.h - Resolved per-stage costs -------------------*- C++ -*-===//
//
// The cost model of a pipeline after defaults and per-stage overrides are
// applied: what the schedule generators, communication insertion and the
// simulator read. Plain values, no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_SCHEDULE_COSTMODEL_H
#define PIPEWEAVE_SCHEDULE_COSTMODEL_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pipeweave::schedule {

/// Kernel symbols that implement one stage; empty when not given.
struct StageKernels {
  std::string forward, backwardInput, backwardWeight, backward, loss;
};

/// Everything the compiler knows about one stage. Times are in the user's
/// time unit; sizes in bytes.
struct StageCost {
  double forward = 1.0;
  double backwardInput = 1.0;
  double backwardWeight = 1.0;
  double backward = 2.0;        // full backward; defaults to I + W
  double overlapped = 3.0;      // one F and one B together; defaults to F + B
  int64_t activationBytes = 0;  // message to the next stage
  int64_t gradientBytes = 0;    // message to the previous stage
  int64_t activationMemory = 0; // kept alive per in-flight micro-batch
  StageKernels kernels;
};

struct CostModel {
  double p2pLatency = 0.0;
  /// Bytes per time unit; std::nullopt means transfers cost only latency.
  std::optional<double> p2pBandwidth;
  std::vector<StageCost> stages;

  /// Time for one message of `bytes` between neighbouring ranks.
  double transferTime(int64_t bytes) const {
    return p2pLatency +
           (p2pBandwidth ? static_cast<double>(bytes) / *p2pBandwidth : 0.0);
  }
};

} // namespace pipeweave::schedule

#endif // PIPEWEAVE_SCHEDULE_COSTMODEL_H
