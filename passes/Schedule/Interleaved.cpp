//===- Interleaved.cpp - Interleaved 1F1B generator -----------------------===//
//
// Interleaved 1F1B as PyTorch builds it in
// torch/distributed/pipelining/schedules.py: ScheduleInterleaved1F1B.
// _calculate_single_rank_operations with _get_warmup_ops (multiply factor 2)
// and _get_1f1b_rank_ops. Only the compute order is kept; PyTorch's None
// padding (idle slots) carries no ordering information.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/MoreGenerators.h"

#include <algorithm>
#include <vector>

using namespace pipeweave::schedule;

namespace {
/// Hands out micro-batches in ascending order, separately per local stage:
/// the k-th forward (or backward) a rank runs on one of its stages always
/// takes that stage's next micro-batch.
class MicrobatchCounter {
public:
  explicit MicrobatchCounter(int localStages) : next(localStages, 0) {}
  int take(int localStage) { return next[localStage]++; }

private:
  std::vector<int> next;
};
} // namespace

/// Rank `rank`'s order. Forwards and backwards are each numbered 0..T-1
/// (T = V*N); forward k runs at step k and backward k at step warmup + k, a
/// step doing its forward before its backward. Both walk the local stages in
/// blocks of `perRound` micro-batches, forwards from the first local stage
/// up, backwards from the last one down.
static std::vector<Action> interleavedRank(int rank, int ranks, int localStages,
                                           int microbatches, int perRound) {
  int opsPerKind = localStages * microbatches;
  // The last rank needs (V-1) rounds of forwards before its first backward
  // can start; each hop further up the pipeline adds a forward and the
  // backward's return trip (2 slots).
  int warmup = std::min((localStages - 1) * perRound + 2 * (ranks - 1 - rank),
                        opsPerKind);
  auto forwardLocalStage = [&](int k) { return (k / perRound) % localStages; };
  auto backwardLocalStage = [&](int k) {
    return localStages - 1 - (k / perRound) % localStages;
  };

  MicrobatchCounter forwards(localStages), backwards(localStages);
  std::vector<Action> actions;
  actions.reserve(2 * opsPerKind);
  for (int step = 0; step < opsPerKind + warmup; ++step) {
    if (step < opsPerKind) {
      int local = forwardLocalStage(step);
      actions.push_back(
          Action::forward(local * ranks + rank, forwards.take(local)));
    }
    if (step >= warmup) {
      int local = backwardLocalStage(step - warmup);
      actions.push_back(
          Action::backward(local * ranks + rank, backwards.take(local)));
    }
  }
  return actions;
}

Schedule pipeweave::schedule::generateInterleaved1F1B(int ranks,
                                                      int stagesPerRank,
                                                      int microbatches) {
  // PyTorch's flexible rounds: micro-batches go through the local stages in
  // rounds of `perRound` (= R when R divides N, as in Megatron).
  int rounds = std::max(1, microbatches / ranks);
  int perRound = microbatches / rounds;

  Schedule schedule;
  schedule.kind = "interleaved-1f1b";
  schedule.numRanks = ranks;
  schedule.numStages = ranks * stagesPerRank;
  schedule.numMicrobatches = microbatches;
  schedule.numDirections = 1;
  schedule.ranks.reserve(ranks);
  for (int rank = 0; rank < ranks; ++rank)
    schedule.ranks.push_back(
        interleavedRank(rank, ranks, stagesPerRank, microbatches, perRound));
  return schedule;
}
