//===- Generators.cpp - Building compute-only schedules -------------------===//
//
// GPipe and 1F1B (one stage per rank, stage r on rank r, full backward) and
// the dispatch to every other kind's generator.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/DualPipe.h"
#include "passes/Schedule/MoreGenerators.h"
#include "passes/Schedule/Schedule.h"

#include <algorithm>

using namespace pipeweave::schedule;

/// PyTorch's ScheduleGPipe: all forwards, then all backwards, ascending.
static std::vector<Action> gpipeRank(int rank, int microbatches) {
  std::vector<Action> actions;
  actions.reserve(2 * microbatches);
  for (int mb = 0; mb < microbatches; ++mb)
    actions.push_back(Action::forward(rank, mb));
  for (int mb = 0; mb < microbatches; ++mb)
    actions.push_back(Action::backward(rank, mb));
  return actions;
}

/// Megatron's 1F1B: enough warm-up forwards to fill the pipeline below this
/// rank, then alternate one forward and one backward, then drain.
static std::vector<Action> oneFOneBRank(int rank, int ranks, int microbatches) {
  int warmup = std::min(microbatches, ranks - 1 - rank);
  std::vector<Action> actions;
  actions.reserve(2 * microbatches);
  for (int mb = 0; mb < warmup; ++mb)
    actions.push_back(Action::forward(rank, mb));
  for (int i = 0; i < microbatches - warmup; ++i) {
    actions.push_back(Action::forward(rank, warmup + i));
    actions.push_back(Action::backward(rank, i));
  }
  for (int mb = microbatches - warmup; mb < microbatches; ++mb)
    actions.push_back(Action::backward(rank, mb));
  return actions;
}

/// Builds a schedule of one stage per rank from a per-rank generator.
template <typename RankGenerator>
static Schedule oneStagePerRank(const ScheduleParams &params,
                                RankGenerator rankActions) {
  Schedule schedule;
  schedule.numRanks = params.ranks;
  schedule.numStages = params.ranks;
  schedule.numMicrobatches = params.microbatches;
  schedule.ranks.reserve(params.ranks);
  for (int rank = 0; rank < params.ranks; ++rank)
    schedule.ranks.push_back(rankActions(rank));
  return schedule;
}

static Schedule buildSchedule(const ScheduleParams &params) {
  int ranks = params.ranks, microbatches = params.microbatches;
  switch (params.kind) {
  case ScheduleKind::GPipe:
    return oneStagePerRank(
        params, [&](int rank) { return gpipeRank(rank, microbatches); });
  case ScheduleKind::OneFOneB:
    return oneStagePerRank(params, [&](int rank) {
      return oneFOneBRank(rank, ranks, microbatches);
    });
  case ScheduleKind::Interleaved1F1B:
    return generateInterleaved1F1B(ranks, effectiveStagesPerRank(params),
                                   microbatches);
  case ScheduleKind::ZeroBubbleH1:
    return generateZeroBubbleH1(ranks, microbatches);
  case ScheduleKind::ZeroBubbleV:
    return generateZeroBubbleV(ranks, microbatches);
  case ScheduleKind::DualPipe:
    return generateDualPipe(ranks, microbatches);
  case ScheduleKind::DualPipeV:
    return generateDualPipeV(ranks, microbatches);
  }
  return Schedule();
}

Schedule pipeweave::schedule::generateSchedule(const ScheduleParams &params) {
  Schedule schedule = buildSchedule(params);
  // The shape is the same for every kind; set it in one place.
  schedule.kind = std::string(scheduleKindName(params.kind));
  schedule.numRanks = params.ranks;
  schedule.numStages = params.ranks * effectiveStagesPerRank(params);
  schedule.numDirections = directionsOf(params.kind);
  schedule.numMicrobatches = params.microbatches;
  return schedule;
}
