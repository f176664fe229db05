//===- AllKindsTest.cpp - every schedule kind through every analysis ------===//
//
// For each schedule kind and a grid of sizes its rules accept: the generated
// order is valid, runs as dataflow, survives communication insertion (valid,
// deadlock-free under blocking grouped send/recv, compute order unchanged,
// exactly one message per cross-rank edge) and round-trips through CSV.
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {

struct Size {
  ScheduleKind kind;
  int ranks;
  int microbatches;
  int stagesPerRank;
};

std::string describe(const Size &size) {
  return std::string(scheduleKindName(size.kind)) +
         " R=" + std::to_string(size.ranks) +
         " N=" + std::to_string(size.microbatches) +
         " V=" + std::to_string(size.stagesPerRank);
}

/// Sizes up to 8 ranks the rules accept, plus a few large ones.
std::vector<Size> gridFor(ScheduleKind kind) {
  std::vector<Size> sizes;
  auto consider = [&](int ranks, int microbatches, int stagesPerRank) {
    ScheduleParams params{kind, ranks, microbatches, stagesPerRank};
    if (!checkScheduleParams(params))
      sizes.push_back({kind, ranks, microbatches, stagesPerRank});
  };
  for (int ranks = 1; ranks <= 8; ++ranks) {
    for (int microbatches = 1; microbatches <= 4 * ranks + 2; ++microbatches) {
      if (kind == ScheduleKind::Interleaved1F1B) {
        for (int v = 2; v <= 4; ++v)
          consider(ranks, microbatches, v);
      } else {
        consider(ranks, microbatches, 0);
      }
    }
  }
  consider(16, 64, kind == ScheduleKind::Interleaved1F1B ? 2 : 0);
  return sizes;
}

/// Messages the schedule needs, counted from the placement alone: one per
/// micro-batch for every pair of neighbouring stages on different ranks, in
/// each of the two directions of travel (activation and gradient).
int expectedMessages(const Schedule &schedule) {
  int crossings = 0;
  for (int stage = 0; stage < schedule.numStages; ++stage) {
    int next = schedule.nextStage(stage);
    if (next >= 0 && schedule.rankOfStage(stage) != schedule.rankOfStage(next))
      ++crossings;
  }
  return 2 * crossings * schedule.microbatchesPerStage();
}

int count(const Schedule &schedule, ActionKind kind) {
  int total = 0;
  for (const std::vector<Action> &actions : schedule.ranks)
    for (const Action &action : actions)
      total += action.kind == kind;
  return total;
}

class AllKindsTest : public ::testing::TestWithParam<ScheduleKind> {};

TEST_P(AllKindsTest, ValidDeadlockFreeWithAndWithoutCommunication) {
  std::vector<Size> sizes = gridFor(GetParam());
  ASSERT_GE(sizes.size(), 10u);
  for (const Size &size : sizes) {
    SCOPED_TRACE(describe(size));
    Schedule schedule = generateSchedule(
        {size.kind, size.ranks, size.microbatches, size.stagesPerRank});
    ASSERT_EQ(messages(validateSchedule(schedule)), "");
    DeadlockReport computeOnly = checkDeadlock(schedule);
    ASSERT_FALSE(computeOnly.deadlocked) << computeOnly.str();

    Schedule withComm = insertCommunication(schedule);
    ASSERT_EQ(messages(validateSchedule(withComm)), "");
    DeadlockReport report = checkDeadlock(withComm);
    ASSERT_FALSE(report.deadlocked) << report.str();
    EXPECT_EQ(count(withComm, ActionKind::Send), expectedMessages(schedule));
    EXPECT_EQ(count(withComm, ActionKind::Recv), expectedMessages(schedule));
    EXPECT_EQ(formatTorchCsv(withComm), formatTorchCsv(schedule));

    CsvParseResult parsed =
        parseTorchCsv(formatTorchCsv(schedule), schedule.numDirections);
    ASSERT_TRUE(parsed.schedule.has_value());
    EXPECT_EQ(parsed.schedule->ranks, schedule.ranks);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, AllKindsTest,
    ::testing::Values(ScheduleKind::GPipe, ScheduleKind::OneFOneB,
                      ScheduleKind::Interleaved1F1B, ScheduleKind::ZeroBubbleH1,
                      ScheduleKind::ZeroBubbleV, ScheduleKind::DualPipe,
                      ScheduleKind::DualPipeV),
    [](const auto &info) {
      // Test names allow only letters, digits and '_'.
      std::string name(scheduleKindName(info.param));
      for (char &c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)))
          c = '_';
      return "k_" + name;
    });

} // namespace
