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
  /// A component launch's layer within its stage; -1 for a whole stage's
  /// kernel or a loss.
  int layer = -1;
  std::vector<KernelBuffer> buffers;
};

/// An expert-parallel all-to-all of one component item, on the
/// communication stream: it reads `send` and writes `recv` (both
/// 8 * E + rows * rowBytes bytes: per-peer int64 row counts, then rows).
struct AllToAll {
  std::string component; // e.g. "dispatch"
  bool forward = true;   // the forward chain's, or the backward chain's
  int stage = 0;
  int microbatch = 0;
  int layer = 0;
  Slot send, recv;
  int64_t rowBytes = 0;
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
  enum Kind {
    LaunchKernel,
    TransferGroup,
    RecordEvent,
    WaitEvent,
    AllToAllExchange
  } kind;
  int stream = ComputeStream;
  Launch launch;                   // LaunchKernel
  AllToAll allToAll;               // AllToAllExchange
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
  /// The index in its rank's action list of the action it concerns, or -1.
  int action = -1;
};

/// Which part of a component an item of an overlapped pair's plan runs (the
/// phases of the sched dialect).
enum class ComponentPhase : uint8_t {
  Forward,
  BackwardInput,
  BackwardWeight,
  Backward
};

/// One item of an overlapped pair's plan (`sched.component`), in plan order.
struct ComponentItem {
  ComponentPhase phase = ComponentPhase::Forward;
  std::string component;
  int layer = 0;
  int stream = ComputeStream;
};

/// Per action of one rank, the plan of an overlapped pair whose stages have
/// components (empty for any other action).
using PairPlans = std::vector<std::vector<ComponentItem>>;

/// Lowers `schedule` (validated, with communication) using `costs` for
/// sizes and kernel names.
///
/// An action of a stage with components (`pipe.layers`) becomes its
/// component items (runtime/README.md, "Component launches"): a forward
/// runs the forward chain (per layer, its components in order), a backward
/// the backward chain (layers last first, components reversed: an
/// all-to-all's backward, a compute component's backward_input followed by
/// its backward_weight), backward_input the chain without the weights,
/// backward_weight only those; an overlapped pair runs its plan's items in
/// order, each on its planned stream (both chains, one after the other,
/// without a plan). A compute item is a launch with its layer, reading the
/// receive slot of the all-to-all before it (or the chain's input when it
/// comes first) and writing the send slot of the one after it (or the
/// chain's output when it comes last); an all-to-all reads its send slot
/// and writes its receive slot. Each action's chain has one send and one
/// receive slot per all-to-all component, at the end of the pool. A layer
/// must start and end with a compute component. A full backward uses the
/// stage's `backward` kernel, or its backward_input then backward_weight
/// kernels when it has none; a last stage with a `loss` kernel launches it
/// right after each forward. A wait is added only where a stream must wait for
/// work of the other stream: a tensor written there (read after write), or a
/// slot whose previous occupant was last used there (memory reuse); and only
/// when no earlier wait already covers it.
std::optional<LoweringError> lowerToRuntime(const schedule::Schedule &schedule,
                                            const schedule::CostModel &costs,
                                            RuntimeProgram &result);

/// The same, one rank at a time, for callers that are done with a rank
/// before they ask for the next (its memory is then reused).
class RuntimeLowering {
public:
  RuntimeLowering(const schedule::Schedule &schedule,
                  const schedule::CostModel &costs);
  /// Rank `rank` of what lowerToRuntime makes; `pairPlans` (optional)
  /// gives the plans of its overlapped pairs, per action.
  std::optional<LoweringError> lowerRank(int rank, RankProgram &result,
                                         const PairPlans *pairPlans = nullptr);

private:
  const schedule::Schedule &schedule;
  const schedule::CostModel &costs;
  std::vector<int> stageRanks;
};

} // namespace pipeweave::lower

#endif // PIPEWEAVE_LOWERING_RUNTIMEPLAN_H
