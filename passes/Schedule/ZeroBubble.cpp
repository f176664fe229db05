//===- ZeroBubble.cpp - ZB-H1 and ZB-V generators -------------------------===//
//
// The zero-bubble schedules of Qi et al. ("Zero Bubble Pipeline
// Parallelism"), which split each backward into I (input gradient, on the
// critical path) and W (weight gradient, free to move later):
//
// - ZB-H1 follows the handcrafted schedule of sail-sg/zero-bubble-pipeline-
//   parallelism, branch `arxiv`, megatron/core/pipeline_parallel/
//   efficiency.py, get_hand_schedule(..., warmup_c=1), micro-batches taken
//   in ascending order per action kind. PyTorch's
//   ScheduleInterleavedZeroBubble with one stage per rank produces the same
//   compute order whenever N >= R (test/unit/oracle/pytorch_orders.py
//   checks this); for N < R this file follows PyTorch's rule.
// - ZB-V follows PyTorch's ScheduleZBVZeroBubble.
//   _calculate_single_rank_operations (torch/distributed/pipelining/
//   schedules.py).
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/MoreGenerators.h"

#include <algorithm>
#include <utility>
#include <vector>

using namespace pipeweave::schedule;

//===----------------------------------------------------------------------===//
// ZB-H1
//===----------------------------------------------------------------------===//

/// Rank `rank`'s ZB-H1 order: 1F1B's forwards and I passes (warm-up of
/// R-1-r forwards, then forward/I pairs, then the remaining I passes); after
/// the i-th I pass comes one W once i >= r, and the r held-back W passes
/// close the order. Holding back r W passes is what fills rank r's share of
/// the 1F1B cool-down bubble, which grows by one slot per rank.
static std::vector<Action> zeroBubbleH1Rank(int rank, int ranks,
                                            int microbatches) {
  int warmup = std::min(ranks - 1 - rank, microbatches);
  std::vector<Action> actions;
  actions.reserve(3 * microbatches);
  for (int mb = 0; mb < warmup; ++mb)
    actions.push_back(Action::forward(rank, mb));
  int weightsDone = 0;
  for (int i = 0; i < microbatches; ++i) {
    if (warmup + i < microbatches)
      actions.push_back(Action::forward(rank, warmup + i));
    actions.push_back(Action::backwardInput(rank, i));
    if (i >= rank)
      actions.push_back(Action::backwardWeight(rank, weightsDone++));
  }
  for (; weightsDone < microbatches; ++weightsDone)
    actions.push_back(Action::backwardWeight(rank, weightsDone));
  return actions;
}

Schedule pipeweave::schedule::generateZeroBubbleH1(int ranks,
                                                   int microbatches) {
  Schedule schedule;
  schedule.kind = "zb-h1";
  schedule.numRanks = ranks;
  schedule.numStages = ranks;
  schedule.numMicrobatches = microbatches;
  schedule.numDirections = 1;
  schedule.ranks.reserve(ranks);
  for (int rank = 0; rank < ranks; ++rank)
    schedule.ranks.push_back(zeroBubbleH1Rank(rank, ranks, microbatches));
  return schedule;
}

//===----------------------------------------------------------------------===//
// ZB-V
//===----------------------------------------------------------------------===//

namespace {
/// Builds one rank's ZB-V order. The rank runs the "down" stage r (first leg
/// of the V) and the "up" stage 2R-1-r (second leg); every F, I and W takes
/// the next micro-batch of its stage and kind.
class ZeroBubbleVRank {
public:
  ZeroBubbleVRank(int rank, int ranks, int microbatches)
      : rank(rank), ranks(ranks), microbatches(microbatches),
        // The reference lays the order out for at least 2R-1 micro-batches
        // (enough to fill the V) and drops those that do not exist.
        laidOut(std::max(2 * ranks - 1, microbatches)), down(rank),
        up(2 * ranks - 1 - rank) {}

  std::vector<Action> build() {
    // Warm-up: fill the first leg, then interleave the second leg's
    // forwards, then start the second leg's backwards, whose gradients come
    // back (from the V's end on rank 0) before the first leg's.
    for (int i = 0; i < 2 * (ranks - rank) - 1; ++i)
      emit(Forward, Down);
    for (int i = 0; i < rank; ++i) {
      emit(Forward, Up);
      emit(Forward, Down);
    }
    for (int i = 0; i < ranks - rank; ++i) {
      emit(Forward, Up);
      emit(Input, Up);
      emit(Weight, Up);
    }
    // Steady state: F/I/W on the down stage, then F/I/W on the up stage,
    // until both legs have run every forward.
    while (count(Forward, Up) < count(Forward, Down) ||
           count(Forward, Down) < laidOut) {
      if (count(Forward, Down) < laidOut)
        emit(Forward, Down);
      emit(Input, Down);
      emit(Weight, Down);
      emit(Forward, Up);
      emit(Input, Up);
      emit(Weight, Up);
    }
    // Cool-down: the remaining I passes first (they unblock other ranks),
    // W passes only where they fit, then the W passes left over.
    for (int i = 0; i < rank; ++i) {
      emit(Input, Down);
      emit(Input, Up);
    }
    for (int i = 0; i < ranks - rank; ++i) {
      emit(Input, Down);
      emit(Weight, Down);
    }
    while (count(Weight, Up) < count(Input, Up))
      emit(Weight, Up);
    while (count(Weight, Down) < count(Input, Down))
      emit(Weight, Down);
    return std::move(actions);
  }

private:
  enum Kind { Forward, Input, Weight, NumKinds };
  enum Leg { Down, Up, NumLegs };

  int &count(Kind kind, Leg leg) { return counts[leg][kind]; }

  void emit(Kind kind, Leg leg) {
    int mb = count(kind, leg)++;
    if (mb >= microbatches)
      return; // padding micro-batch: an idle slot in the reference
    int stage = leg == Down ? down : up;
    actions.push_back(kind == Forward ? Action::forward(stage, mb)
                      : kind == Input ? Action::backwardInput(stage, mb)
                                      : Action::backwardWeight(stage, mb));
  }

  int rank, ranks, microbatches, laidOut, down, up;
  int counts[NumLegs][NumKinds] = {};
  std::vector<Action> actions;
};
} // namespace

Schedule pipeweave::schedule::generateZeroBubbleV(int ranks, int microbatches) {
  Schedule schedule;
  schedule.kind = "zb-v";
  schedule.numRanks = ranks;
  schedule.numStages = 2 * ranks;
  schedule.numMicrobatches = microbatches;
  schedule.numDirections = 1;
  schedule.ranks.reserve(ranks);
  for (int rank = 0; rank < ranks; ++rank)
    schedule.ranks.push_back(
        ZeroBubbleVRank(rank, ranks, microbatches).build());
  return schedule;
}
