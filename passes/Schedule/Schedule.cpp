//===- Schedule.cpp - Schedule topology, kinds and parameters -------------===//
//
// Stage topology of a schedule, the schedule kinds and their spellings, and
// the rules each kind places on its parameters.
//
//===----------------------------------------------------------------------===//

#include "passes/Schedule/Dependencies.h"
#include "passes/Schedule/StrCat.h"

#include <array>
#include <utility>

using namespace pipeweave::schedule;
using detail::strCat;

//===----------------------------------------------------------------------===//
// Topology
//===----------------------------------------------------------------------===//

/// Stages per direction, or 0 when the counts make no sense (then no stage
/// has neighbours).
static int stagesPerDirectionOrZero(const Schedule &schedule) {
  if (schedule.numDirections <= 0 || schedule.numStages <= 0)
    return 0;
  return schedule.numStages / schedule.numDirections;
}

int Schedule::prevStage(int stage) const {
  int perDirection = stagesPerDirectionOrZero(*this);
  if (perDirection == 0 || stage < 0 || stage >= numStages)
    return -1;
  return stage % perDirection == 0 ? -1 : stage - 1;
}

int Schedule::nextStage(int stage) const {
  int perDirection = stagesPerDirectionOrZero(*this);
  if (perDirection == 0 || stage < 0 || stage + 1 >= numStages)
    return -1;
  return stage % perDirection == perDirection - 1 ? -1 : stage + 1;
}

std::vector<int> Schedule::stageRanks() const {
  return detail::stagePlacement(*this, /*includeComm=*/true);
}

int Schedule::rankOfStage(int stage) const {
  if (stage < 0 || stage >= numStages)
    return -1;
  return detail::stagePlacement(*this, /*includeComm=*/true)[stage];
}

//===----------------------------------------------------------------------===//
// Kinds
//===----------------------------------------------------------------------===//

static constexpr std::array<std::pair<ScheduleKind, std::string_view>, 7>
    kindSpellings = {{
        {ScheduleKind::GPipe, "gpipe"},
        {ScheduleKind::OneFOneB, "1f1b"},
        {ScheduleKind::Interleaved1F1B, "interleaved-1f1b"},
        {ScheduleKind::ZeroBubbleH1, "zb-h1"},
        {ScheduleKind::ZeroBubbleV, "zb-v"},
        {ScheduleKind::DualPipe, "dualpipe"},
        {ScheduleKind::DualPipeV, "dualpipev"},
    }};

std::optional<ScheduleKind>
pipeweave::schedule::parseScheduleKind(std::string_view name) {
  for (const auto &[kind, spelling] : kindSpellings)
    if (spelling == name)
      return kind;
  return std::nullopt;
}

std::string_view pipeweave::schedule::scheduleKindName(ScheduleKind kind) {
  for (const auto &[candidate, spelling] : kindSpellings)
    if (candidate == kind)
      return spelling;
  return "unknown";
}

std::string pipeweave::schedule::scheduleKindList() {
  std::string list;
  for (const auto &[kind, spelling] : kindSpellings)
    list += strCat(list.empty() ? "" : ", ", spelling);
  return list;
}

int pipeweave::schedule::directionsOf(ScheduleKind kind) {
  return kind == ScheduleKind::DualPipe ? 2 : 1;
}

int pipeweave::schedule::effectiveStagesPerRank(const ScheduleParams &params) {
  if (params.stagesPerRank > 0)
    return params.stagesPerRank;
  switch (params.kind) {
  case ScheduleKind::ZeroBubbleV:
  case ScheduleKind::DualPipe:
  case ScheduleKind::DualPipeV:
    return 2;
  default:
    return 1;
  }
}

//===----------------------------------------------------------------------===//
// Parameter rules
//===----------------------------------------------------------------------===//

namespace {
/// Checks one kind's rules in order, keeping the first violation.
class RuleChecker {
public:
  explicit RuleChecker(const ScheduleParams &params)
      : params(params), name(scheduleKindName(params.kind)),
        stagesPerRank(effectiveStagesPerRank(params)) {}

  void stagesPerRankIs(int expected) {
    require(stagesPerRank == expected, "needs stages per rank == ", expected,
            " (got ", stagesPerRank, ")");
  }
  void stagesPerRankAtLeast(int minimum) {
    require(stagesPerRank >= minimum, "needs stages per rank >= ", minimum,
            " (got ", stagesPerRank, ")");
  }
  void microbatchesAtLeastRanks(int factor) {
    int minimum = factor * params.ranks;
    std::string bound = factor == 1 ? "ranks" : strCat(factor, " * ranks");
    require(params.microbatches >= minimum, "needs microbatches >= ", bound,
            " (got ", params.microbatches, " < ", minimum, ")");
  }
  void microbatchesDivisibleByRanks() {
    require(params.microbatches % params.ranks == 0,
            "needs microbatches divisible by ranks (got ", params.microbatches,
            " % ", params.ranks, " = ", params.microbatches % params.ranks,
            ")");
  }
  void ranksEven() {
    require(params.ranks % 2 == 0, "needs an even number of ranks (got ",
            params.ranks, ")");
  }
  void microbatchesEven() {
    require(params.microbatches % 2 == 0,
            "needs an even number of microbatches (got ", params.microbatches,
            ")");
  }

  std::optional<std::string> takeViolation() { return std::move(violation); }

private:
  template <typename... Parts> void require(bool holds, const Parts &...parts) {
    if (!holds && !violation)
      violation = strCat("schedule '", name, "' ", parts...);
  }

  const ScheduleParams &params;
  std::string_view name;
  int stagesPerRank;
  std::optional<std::string> violation;
};
} // namespace

/// The rules specific to `params.kind`, in the order they are reported.
static std::optional<std::string> checkKindRules(const ScheduleParams &params) {
  RuleChecker rules(params);
  switch (params.kind) {
  case ScheduleKind::GPipe:
    rules.stagesPerRankIs(1);
    break;
  case ScheduleKind::OneFOneB:
    rules.stagesPerRankIs(1);
    rules.microbatchesAtLeastRanks(1);
    break;
  case ScheduleKind::Interleaved1F1B:
    rules.stagesPerRankAtLeast(2);
    rules.microbatchesDivisibleByRanks();
    break;
  case ScheduleKind::ZeroBubbleH1:
    rules.microbatchesAtLeastRanks(1);
    rules.stagesPerRankIs(1);
    break;
  case ScheduleKind::ZeroBubbleV:
    rules.stagesPerRankIs(2);
    rules.microbatchesAtLeastRanks(1);
    break;
  case ScheduleKind::DualPipe:
    rules.ranksEven();
    rules.microbatchesEven();
    rules.microbatchesAtLeastRanks(2);
    rules.stagesPerRankIs(2);
    break;
  case ScheduleKind::DualPipeV:
    rules.microbatchesAtLeastRanks(2);
    rules.stagesPerRankIs(2);
    break;
  }
  return rules.takeViolation();
}

std::optional<std::string>
pipeweave::schedule::checkScheduleParams(const ScheduleParams &params) {
  if (params.ranks < 1)
    return strCat("ranks must be >= 1 (got ", params.ranks, ")");
  if (params.microbatches < 1)
    return strCat("microbatches must be >= 1 (got ", params.microbatches, ")");
  if (params.stagesPerRank < 0)
    return strCat("stages per rank must be >= 0, where 0 picks the "
                  "schedule's default (got ",
                  params.stagesPerRank, ")");
  return checkKindRules(params);
}
