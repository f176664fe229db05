//===- ParamsTest.cpp - Schedule kinds and parameter rules ----------------===//

#include "passes/Schedule/Schedule.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;

namespace {
ScheduleParams params(ScheduleKind kind, int ranks, int microbatches,
                      int stagesPerRank = 0) {
  ScheduleParams result;
  result.kind = kind;
  result.ranks = ranks;
  result.microbatches = microbatches;
  result.stagesPerRank = stagesPerRank;
  return result;
}

std::string violation(const ScheduleParams &p) {
  return checkScheduleParams(p).value_or("<valid>");
}
} // namespace

TEST(ScheduleKindTest, SpellingsRoundTrip) {
  const std::pair<ScheduleKind, const char *> spellings[] = {
      {ScheduleKind::GPipe, "gpipe"},
      {ScheduleKind::OneFOneB, "1f1b"},
      {ScheduleKind::Interleaved1F1B, "interleaved-1f1b"},
      {ScheduleKind::ZeroBubbleH1, "zb-h1"},
      {ScheduleKind::ZeroBubbleV, "zb-v"},
      {ScheduleKind::DualPipe, "dualpipe"},
      {ScheduleKind::DualPipeV, "dualpipev"},
  };
  for (auto [kind, spelling] : spellings) {
    EXPECT_EQ(parseScheduleKind(spelling), kind) << spelling;
    EXPECT_EQ(scheduleKindName(kind), spelling);
  }
  EXPECT_EQ(parseScheduleKind("1F1B"), std::nullopt);
  EXPECT_EQ(parseScheduleKind(""), std::nullopt);
  EXPECT_EQ(parseScheduleKind("dualpipe "), std::nullopt);
  EXPECT_EQ(scheduleKindList(),
            "gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-v, dualpipe, dualpipev");
}

TEST(ScheduleKindTest, DefaultsPerKind) {
  EXPECT_EQ(directionsOf(ScheduleKind::DualPipe), 2);
  EXPECT_EQ(directionsOf(ScheduleKind::DualPipeV), 1);
  EXPECT_EQ(directionsOf(ScheduleKind::OneFOneB), 1);

  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::GPipe, 4, 4)), 1);
  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::OneFOneB, 4, 4)), 1);
  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::ZeroBubbleH1, 4, 4)),
            1);
  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::Interleaved1F1B, 4, 4)),
            1);
  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::ZeroBubbleV, 4, 4)), 2);
  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::DualPipe, 4, 8)), 2);
  EXPECT_EQ(effectiveStagesPerRank(params(ScheduleKind::DualPipeV, 4, 8)), 2);
  EXPECT_EQ(
      effectiveStagesPerRank(params(ScheduleKind::Interleaved1F1B, 4, 4, 3)),
      3);
}

TEST(ScheduleParamsTest, ValidParams) {
  EXPECT_EQ(violation(params(ScheduleKind::GPipe, 1, 1)), "<valid>");
  EXPECT_EQ(violation(params(ScheduleKind::GPipe, 8, 3)), "<valid>");
  EXPECT_EQ(violation(params(ScheduleKind::OneFOneB, 4, 4)), "<valid>");
  EXPECT_EQ(violation(params(ScheduleKind::OneFOneB, 4, 8, 1)), "<valid>");
}

TEST(ScheduleParamsTest, CommonRules) {
  EXPECT_EQ(violation(params(ScheduleKind::OneFOneB, 0, 4)),
            "ranks must be >= 1 (got 0)");
  EXPECT_EQ(violation(params(ScheduleKind::GPipe, 2, 0)),
            "microbatches must be >= 1 (got 0)");
  EXPECT_EQ(violation(params(ScheduleKind::GPipe, 2, 2, -1)),
            "stages per rank must be >= 0, where 0 picks the schedule's "
            "default (got -1)");
}

TEST(ScheduleParamsTest, GPipeAnd1F1BRules) {
  EXPECT_EQ(violation(params(ScheduleKind::GPipe, 2, 4, 2)),
            "schedule 'gpipe' needs stages per rank == 1 (got 2)");
  EXPECT_EQ(violation(params(ScheduleKind::OneFOneB, 2, 4, 2)),
            "schedule '1f1b' needs stages per rank == 1 (got 2)");
  EXPECT_EQ(violation(params(ScheduleKind::OneFOneB, 4, 2)),
            "schedule '1f1b' needs microbatches >= ranks (got 2 < 4)");
  // GPipe has no lower bound on micro-batches.
  EXPECT_EQ(violation(params(ScheduleKind::GPipe, 4, 2)), "<valid>");
}

TEST(ScheduleParamsTest, DualPipeRulesInOrder) {
  EXPECT_EQ(violation(params(ScheduleKind::DualPipe, 3, 3, 1)),
            "schedule 'dualpipe' needs an even number of ranks (got 3)");
  EXPECT_EQ(violation(params(ScheduleKind::DualPipe, 4, 7, 1)),
            "schedule 'dualpipe' needs an even number of microbatches (got 7)");
  EXPECT_EQ(violation(params(ScheduleKind::DualPipe, 4, 6, 1)),
            "schedule 'dualpipe' needs microbatches >= 2 * ranks (got 6 < 8)");
  EXPECT_EQ(violation(params(ScheduleKind::DualPipe, 4, 8, 1)),
            "schedule 'dualpipe' needs stages per rank == 2 (got 1)");
  EXPECT_EQ(violation(params(ScheduleKind::DualPipe, 4, 8)), "<valid>");
}

TEST(ScheduleParamsTest, DualPipeVRules) {
  EXPECT_EQ(violation(params(ScheduleKind::DualPipeV, 4, 7, 3)),
            "schedule 'dualpipev' needs microbatches >= 2 * ranks (got 7 < 8)");
  EXPECT_EQ(violation(params(ScheduleKind::DualPipeV, 4, 8, 3)),
            "schedule 'dualpipev' needs stages per rank == 2 (got 3)");
  // DualPipeV has no parity rule: odd ranks are fine.
  EXPECT_EQ(violation(params(ScheduleKind::DualPipeV, 3, 6)), "<valid>");
}

TEST(ScheduleParamsTest, ZeroBubbleRules) {
  EXPECT_EQ(violation(params(ScheduleKind::ZeroBubbleH1, 4, 3, 2)),
            "schedule 'zb-h1' needs microbatches >= ranks (got 3 < 4)");
  EXPECT_EQ(violation(params(ScheduleKind::ZeroBubbleH1, 4, 4, 2)),
            "schedule 'zb-h1' needs stages per rank == 1 (got 2)");
  EXPECT_EQ(violation(params(ScheduleKind::ZeroBubbleV, 4, 3, 1)),
            "schedule 'zb-v' needs stages per rank == 2 (got 1)");
  EXPECT_EQ(violation(params(ScheduleKind::ZeroBubbleV, 4, 3)),
            "schedule 'zb-v' needs microbatches >= ranks (got 3 < 4)");
  EXPECT_EQ(violation(params(ScheduleKind::ZeroBubbleV, 4, 4)), "<valid>");
}

TEST(ScheduleParamsTest, InterleavedRules) {
  EXPECT_EQ(violation(params(ScheduleKind::Interleaved1F1B, 4, 10)),
            "schedule 'interleaved-1f1b' needs stages per rank >= 2 (got 1)");
  EXPECT_EQ(violation(params(ScheduleKind::Interleaved1F1B, 4, 10, 2)),
            "schedule 'interleaved-1f1b' needs microbatches divisible by "
            "ranks (got 10 % 4 = 2)");
  EXPECT_EQ(violation(params(ScheduleKind::Interleaved1F1B, 4, 12, 3)),
            "<valid>");
}
