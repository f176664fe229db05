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

/// What one layer component is (issue 8): work on the compute stream, or an
/// expert-parallel all-to-all on the communication stream.
enum class ComponentKind : uint8_t { Compute, AllToAll };

/// Kernel symbols of a compute component; empty when not given.
struct ComponentKernels {
  std::string forward, backwardInput, backwardWeight;
  friend bool operator==(const ComponentKernels &,
                         const ComponentKernels &) = default;
};

/// One component of a layer, e.g. attention, dispatch, MLP, combine. A
/// compute component has forward (F), backward-for-input (I) and
/// backward-for-weights (W) costs; an all-to-all has a forward and a
/// backward (the reverse all-to-all) cost and names the moe.expert_group
/// whose placement routes it.
struct Component {
  std::string name;
  ComponentKind kind = ComponentKind::Compute;
  double forward = 0.0;
  double backwardInput = 0.0;  // compute only
  double backwardWeight = 0.0; // compute only
  double backward = 0.0;       // all-to-all only
  std::string expertGroup;     // all-to-all only: the group's symbol name
  /// All-to-all only: the bytes of one row and the most rows one process
  /// receives; a lowered all-to-all's buffers hold 8 * E + rows * rowBytes
  /// bytes (the per-peer row counts, then the rows). 0 when not given.
  int64_t rowBytes = 0;
  int64_t rows = 0;
  ComponentKernels kernels; // compute only

  bool isCompute() const { return kind == ComponentKind::Compute; }
  friend bool operator==(const Component &, const Component &) = default;
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
  /// The stage as `layers` copies of one layer made of `components` (in
  /// forward order); 0 and empty when the spec gives no components.
  int layers = 0;
  std::vector<Component> components;

  bool hasComponents() const { return layers > 0 && !components.empty(); }
};

struct CostModel {
  double p2pLatency = 0.0;
  /// Bytes per time unit; std::nullopt means transfers cost only latency.
  std::optional<double> p2pBandwidth;
  std::vector<StageCost> stages;
  /// Processes per pipeline rank that form one expert-parallel group (the
  /// all-to-all of a component runs among them); the step runs on
  /// ranks * expertParallel processes.
  int expertParallel = 1;

  /// Time for one message of `bytes` between neighbouring ranks.
  double transferTime(int64_t bytes) const {
    return p2pLatency +
           (p2pBandwidth ? static_cast<double>(bytes) / *p2pBandwidth : 0.0);
  }
};

} // namespace pipeweave::schedule

#endif // PIPEWEAVE_SCHEDULE_COSTMODEL_H
