//===- DualPipe.cpp - DeepSeek's DualPipe and DualPipeV schedules ---------===//
//
// Both references run the same eight steps per rank (see DualPipe.h); they
// differ only in the span of ranks the steps are sized by, the number of
// micro-batches per phase, which rank is the turn rank and how a rank's two
// phases map to stages. Each rank is replayed on its own: the steps decide
// the order of calls, and per-phase counters decide the micro-batches.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/DualPipe.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <deque>
#include <utility>
#include <vector>

using namespace pipeweave::schedule;

namespace {

/// Phase 0 is the stage whose micro-batches reach the rank first.
enum Phase : int { Phase0 = 0, Phase1 = 1 };

/// One rank's compute calls, recorded as actions in the order made.
class RankReplay {
public:
  explicit RankReplay(std::array<int, 2> stages) : stageOfPhase(stages) {}

  void forward(Phase phase) {
    actions.push_back(Action::forward(stageOfPhase[phase], takeForward(phase)));
  }

  /// A backward; with `splitWeight` only its input part (I) runs now and its
  /// weight part (W) is queued for a later weight().
  void backward(Phase phase, bool splitWeight) {
    int stage = stageOfPhase[phase];
    int mb = takeBackward(phase);
    if (!splitWeight) {
      actions.push_back(Action::backward(stage, mb));
      return;
    }
    actions.push_back(Action::backwardInput(stage, mb));
    pendingWeights.push_back(Action::backwardWeight(stage, mb));
  }

  /// A forward and a full backward run as one overlapped call.
  void overlapped(Phase forwardPhase, Phase backwardPhase) {
    int forwardMb = takeForward(forwardPhase);
    int backwardMb = takeBackward(backwardPhase);
    actions.push_back(Action::overlap(stageOfPhase[forwardPhase], forwardMb,
                                      stageOfPhase[backwardPhase], backwardMb));
  }

  /// Runs the oldest queued weight gradient (the reference's queue is FIFO).
  void weight() {
    assert(!pendingWeights.empty() && "no queued weight gradient");
    if (pendingWeights.empty())
      return;
    actions.push_back(pendingWeights.front());
    pendingWeights.pop_front();
  }

  bool hasPendingWeights() const { return !pendingWeights.empty(); }
  std::vector<Action> takeActions() { return std::move(actions); }

private:
  int takeForward(Phase phase) { return nextForwardMb[phase]++; }
  int takeBackward(Phase phase) { return nextBackwardMb[phase]++; }

  std::array<int, 2> stageOfPhase;
  std::array<int, 2> nextForwardMb = {0, 0};
  std::array<int, 2> nextBackwardMb = {0, 0};
  std::deque<Action> pendingWeights;
  std::vector<Action> actions;
};

/// What sizes one rank's eight steps.
struct StepShape {
  int span;        // ranks from the pipeline end to the turn rank
  int position;    // this rank's distance from its end, 0..span-1
  int mbsPerPhase; // micro-batches through each of the rank's stages
  bool isTurnRank; // position == span - 1
};

void replayEightSteps(RankReplay &rank, const StepShape &shape) {
  // Ranks between this one and the turn rank: the deeper the rank sits, the
  // shorter its warm-up and the longer its drain.
  int toTurn = shape.span - shape.position - 1;
  // Ranks from the pipeline end to this one, inclusive.
  int upToHere = shape.position + 1;

  // Step 1: warm-up forwards of phase 0.
  for (int i = 0; i < 2 * toTurn; ++i)
    rank.forward(Phase0);

  // Step 2: alternate forwards of both phases.
  for (int i = 0; i < upToHere; ++i) {
    rank.forward(Phase0);
    rank.forward(Phase1);
  }

  // Step 3: the first phase-1 backwards, split so their weight gradient
  // fills the gap at once.
  for (int i = 0; i < toTurn; ++i) {
    rank.backward(Phase1, /*splitWeight=*/true);
    rank.weight();
    rank.forward(Phase1);
  }

  // Step 4: the steady state, two overlapped pairs per iteration.
  int mainIterations = shape.mbsPerPhase - 2 * shape.span + upToHere;
  for (int i = 0; i < mainIterations; ++i) {
    if (i == 0 && shape.isTurnRank) {
      // The reference keeps this pair apart to shrink the bubble.
      rank.forward(Phase0);
      rank.backward(Phase1, /*splitWeight=*/false);
    } else {
      rank.overlapped(Phase0, Phase1);
    }
    rank.overlapped(Phase1, Phase0);
  }

  // Step 5: phase 0 has no forwards left.
  for (int i = 0; i < toTurn; ++i) {
    rank.backward(Phase1, /*splitWeight=*/false);
    rank.overlapped(Phase1, Phase0);
  }

  // Step 6: alternate backwards; the later half are split. The reference
  // flips its zero-bubble flag in the middle pair, before the phase-1
  // backward for odd positions and before the phase-0 one for even
  // positions: either way exactly the last upToHere backwards are split.
  int backwardIndex = 0;
  for (int i = 0; i < upToHere; ++i) {
    for (Phase phase : {Phase1, Phase0})
      rank.backward(phase, /*splitWeight=*/backwardIndex++ >= upToHere);
  }

  // Step 7: drain the queue one W per new split phase-0 backward.
  for (int i = 0; i < toTurn; ++i) {
    rank.weight();
    rank.backward(Phase0, /*splitWeight=*/true);
  }

  // Step 8: the remaining weight gradients.
  for (int i = 0; i < upToHere; ++i)
    rank.weight();
  assert(!rank.hasPendingWeights() && "weight gradients left over");
}

Schedule makeShell(const char *kind, int ranks, int microbatches,
                   int directions) {
  Schedule schedule;
  schedule.kind = kind;
  schedule.numRanks = ranks;
  schedule.numStages = 2 * ranks;
  schedule.numMicrobatches = microbatches;
  schedule.numDirections = directions;
  schedule.ranks.reserve(ranks);
  return schedule;
}

} // namespace

Schedule pipeweave::schedule::generateDualPipe(int ranks, int microbatches) {
  assert(ranks >= 2 && ranks % 2 == 0 && "DualPipe needs an even rank count");
  assert(microbatches % 2 == 0 && microbatches >= 2 * ranks &&
         "DualPipe needs an even micro-batch count >= 2 * ranks");
  Schedule schedule = makeShell("dualpipe", ranks, microbatches, 2);
  int halfRanks = ranks / 2;
  for (int rank = 0; rank < ranks; ++rank) {
    int forwardStage = rank;                 // direction 0
    int reverseStage = 2 * ranks - 1 - rank; // direction 1
    // The second half sees direction-1 micro-batches first.
    bool inSecondHalf = rank >= halfRanks;
    RankReplay replay(inSecondHalf ? std::array{reverseStage, forwardStage}
                                   : std::array{forwardStage, reverseStage});
    int position = std::min(rank, ranks - 1 - rank);
    replayEightSteps(replay, {/*span=*/halfRanks, position,
                              /*mbsPerPhase=*/microbatches / 2,
                              /*isTurnRank=*/position == halfRanks - 1});
    schedule.ranks.push_back(replay.takeActions());
  }
  return schedule;
}

Schedule pipeweave::schedule::generateDualPipeV(int ranks, int microbatches) {
  assert(ranks >= 1 && microbatches >= 2 * ranks &&
         "DualPipeV needs micro-batches >= 2 * ranks");
  Schedule schedule = makeShell("dualpipev", ranks, microbatches, 1);
  for (int rank = 0; rank < ranks; ++rank) {
    // Down the V on stage `rank`, back up on stage 2R-1-rank.
    RankReplay replay({rank, 2 * ranks - 1 - rank});
    replayEightSteps(replay, {/*span=*/ranks, /*position=*/rank,
                              /*mbsPerPhase=*/microbatches,
                              /*isTurnRank=*/rank == ranks - 1});
    schedule.ranks.push_back(replay.takeActions());
  }
  return schedule;
}
