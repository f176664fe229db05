//===- BufferPlan.h - Static buffer plan of a schedule ----------*- C++ -*-===//
//
// Every tensor a rank holds during one training step gets a fixed slot
// (offset, size) in one preallocated pool, chosen by liveness over the rank's
// action order, so that a step allocates nothing at run time. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef PIPEWEAVE_BUFFERPLAN_BUFFERPLAN_H
#define PIPEWEAVE_BUFFERPLAN_BUFFERPLAN_H

#include "passes/Schedule/CostModel.h"
#include "passes/Schedule/Schedule.h"

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace pipeweave::plan {

/// What a buffer holds, for stage s and micro-batch m.
enum class BufferKind : uint8_t {
  /// Activation F(s,m) outputs for the next stage: lives from F(s,m) to its
  /// send (next stage remote) or to F(next,m) (next stage local).
  Activation,
  /// Activation received for F(s,m) from the previous rank: recv to F(s,m).
  ReceivedActivation,
  /// What F(s,m) keeps for its backward (the stage's activation memory):
  /// F(s,m) to B(s,m), or to W(s,m) when the backward is split.
  Saved,
  /// Gradient of stage s's output for micro-batch m: from its recv (next
  /// stage remote), from B/I(next,m) (next stage local), or from the loss
  /// kernel that runs with F(s,m) (a last stage with a loss kernel); to
  /// B(s,m), or to W(s,m) when split (the weight gradient needs it).
  OutputGradient,
  /// Gradient B/I(s,m) outputs for a previous stage on another rank: from
  /// B/I(s,m) to its send. (For a local previous stage it is that stage's
  /// OutputGradient.)
  InputGradient,
};

std::string_view bufferKindName(BufferKind kind);

struct Buffer {
  BufferKind kind = BufferKind::Activation;
  int stage = 0;
  int microbatch = 0;
  int64_t bytes = 0;
  /// Index in the rank's action list of the action that first writes the
  /// buffer and of the last action that reads it (inclusive). A group of
  /// consecutive send/recv actions counts as one span: a receive's buffer
  /// starts at the group's first action, a send's ends at its last.
  int first = 0;
  int last = 0;
  int64_t offset = 0;
  /// Last read by a send: the runtime reads it on the communication
  /// stream, so reusing its bytes for compute makes compute wait for the
  /// transfer. The allocator prefers other free bytes.
  bool sent = false;
};

struct RankPlan {
  std::vector<Buffer> buffers; // in order of `first`
  /// Bytes of the pool: the highest offset + size of any buffer.
  int64_t poolBytes = 0;
  /// The most bytes live at once: a lower bound for poolBytes.
  int64_t peakLiveBytes = 0;
  /// The most Saved bytes live at once (the activation memory peak).
  int64_t peakSavedBytes = 0;
  int peakSavedCount = 0;
};

struct BufferPlan {
  std::vector<RankPlan> ranks;
};

/// Plans the buffers of every rank of `schedule` (with or without comm
/// actions; a message is received into its own buffer only where a recv
/// action exists or the producer is on another rank) using `costs` for
/// sizes: activation messages use activationBytes of the producing stage,
/// gradient messages gradientBytes, saved activations activationMemory.
/// A last stage with a loss kernel (costs.stages[s].kernels.loss) also
/// keeps its output Activation (read by the loss at F) and an
/// OutputGradient written by the loss. Buffers of zero bytes are still planned
/// (size 0) so that every tensor has a slot. Offsets come from a best-fit
/// allocator over lifetimes, in order of first use, that prefers bytes not last
/// held by a sent buffer: with one size per kind it reaches peakLiveBytes.
BufferPlan planBuffers(const schedule::Schedule &schedule,
                       const schedule::CostModel &costs);

/// The plan of one rank, as planBuffers makes it; `rankOfStage` is
/// schedule.stageRanks().
RankPlan planRankBuffers(const schedule::Schedule &schedule,
                         const schedule::CostModel &costs, int rank,
                         const std::vector<int> &rankOfStage);

/// Index of the buffer of `kind` for (stage, mb) in `plan`, or -1.
int findBuffer(const RankPlan &plan, BufferKind kind, int stage,
               int microbatch);

/// Buffer numbers by (kind, stage, micro-batch), for looking many up: a
/// table over the given stages (a rank's own) and micro-batches
/// 0..numMicrobatches-1, a hash map for anything else.
class BufferIndex {
public:
  BufferIndex(const std::vector<int> &denseStages, int numStages,
              int numMicrobatches);
  /// The number stored for (kind, stage, mb), or -1.
  int find(BufferKind kind, int stage, int microbatch) const;
  /// The number stored for (kind, stage, mb), -1 until one is stored.
  int &at(BufferKind kind, int stage, int microbatch);

private:
  static constexpr int kNumKinds = 5;
  int denseSlot(BufferKind kind, int stage, int microbatch) const;
  std::vector<int> denseStage; // per stage: its dense position, or -1
  int numDense;
  int numMicrobatches;
  std::vector<int> dense;
  std::map<std::tuple<BufferKind, int, int>, int> sparse; // rare
};

} // namespace pipeweave::plan

#endif // PIPEWEAVE_BUFFERPLAN_BUFFERPLAN_H
