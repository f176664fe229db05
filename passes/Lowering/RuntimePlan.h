//===- RuntimePlan.h - What each rank issues to the runtime -----*- C++ -*-===//
//
// Lowers a schedule with communication to the runtime level: per rank, the
// ordered list of kernel launches (compute stream), grouped transfers
// (communication stream) and the events between the two streams. Every
// tensor lives in a slot of the rank's static buffer plan. Plain C++: the
// `sched-to-runtime` pass turns the result into `pwrt` IR.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_LOWERING_RUNTIMEPLAN_H
#define PIPEWEAVE_LOWERING_RUNTIMEPLAN_H

#include "passes/BufferPlan/BufferPlan.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pipeweave::lower {

/// The runtime streams of every rank: compute kernels run on one, all
/// transfers on the other, so that a transfer in flight never blocks
/// compute.
enum Stream : int { ComputeStream = 0, CommStream = 1 };
const char *streamName(int stream);

struct Slot {
  int64_t offset = 0;
  int64_t bytes = 0;
  friend bool operator==(const Slot &, const Slot &) = default;
};

/// What a kernel launch computes; the names are those of `pwrt.launch`.
enum class LaunchKind : uint8_t {
  Forward,
  BackwardInput,
  BackwardWeight,
  Backward,
  Loss
};
const char *launchKindName(LaunchKind kind);

/// The role of a tensor a kernel reads or writes; the names are those of
/// `pwrt.launch`'s buffer list.
enum class BufferRole : uint8_t { Input, Output, Saved, GradOutput, GradInput };
const char *bufferRoleName(BufferRole role);

struct KernelBuffer {
  BufferRole role = BufferRole::Input;
  Slot slot;
};

struct Launch {
  LaunchKind kind = LaunchKind::Forward;
  std::string kernel;
  int stage = 0;
  int microbatch = 0;
  std::vector<KernelBuffer> buffers;
};

struct Transfer {
  bool isSend = true;
  schedule::Payload payload = schedule::Payload::Activation;
  int stage = 0; // local stage, as in the schedule's send/recv
  int microbatch = 0;
  int peer = 0;
  Slot slot;
  /// Names the message between the two ranks: derived from the payload and
  /// the producing stage and micro-batch, the same on both ends.
  int tag = 0;
};

struct RuntimeOp {
  enum Kind { LaunchKernel, TransferGroup, RecordEvent, WaitEvent } kind;
  int stream = ComputeStream;
  Launch launch;                   // LaunchKernel
  std::vector<Transfer> transfers; // TransferGroup
  int event = -1;                  // RecordEvent: defines; WaitEvent: uses
};

struct RankProgram {
  int64_t poolBytes = 0;
  std::vector<RuntimeOp> ops;
  int numEvents = 0;
};

struct RuntimeProgram {
  std::vector<RankProgram> ranks;
  /// Every kernel name any rank launches, sorted, for checking registrations
  /// before a step starts.
  std::vector<std::string> kernels;
};

struct LoweringError {
  int stage = -1;
  std::string message;
};

/// Lowers `schedule` (validated, with communication) using `costs` for
/// sizes and kernel names. A full backward uses the stage's `backward`
/// kernel, or its backward_input then backward_weight kernels when it has
/// none; a last stage with a `loss` kernel launches it right after each
/// forward. A wait is added only where a stream must wait for work of the
/// other stream: a tensor written there (read after write), or a slot whose
/// previous occupant was last used there (memory reuse); and only when no
/// earlier wait already covers it.
std::optional<LoweringError> lowerToRuntime(const schedule::Schedule &schedule,
                                            const schedule::CostModel &costs,
                                            RuntimeProgram &result);

/// The same, one rank at a time, for callers that are done with a rank
/// before they ask for the next (its memory is then reused).
class RuntimeLowering {
public:
  RuntimeLowering(const schedule::Schedule &schedule,
                  const schedule::CostModel &costs);
  /// Rank `rank` of what lowerToRuntime makes.
  std::optional<LoweringError> lowerRank(int rank, RankProgram &result);

private:
  const schedule::Schedule &schedule;
  const schedule::CostModel &costs;
  std::vector<int> stageRanks;
};

} // namespace pipeweave::lower

#endif // PIPEWEAVE_LOWERING_RUNTIMEPLAN_H
