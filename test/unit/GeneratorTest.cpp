//===- GeneratorTest.cpp - GPipe and 1F1B generators ----------------------===//
//
// The expected orders below are written out by hand from the published
// rules (PyTorch's ScheduleGPipe; Megatron's 1F1B: R-1-r warm-up forwards,
// then one forward and one backward, then the remaining backwards).
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {
Schedule generate(ScheduleKind kind, int ranks, int microbatches) {
  ScheduleParams params;
  params.kind = kind;
  params.ranks = ranks;
  params.microbatches = microbatches;
  EXPECT_EQ(checkScheduleParams(params), std::nullopt);
  return generateSchedule(params);
}

int countKind(const Schedule &schedule, ActionKind kind) {
  int count = 0;
  for (const std::vector<Action> &actions : schedule.ranks)
    count += std::count_if(actions.begin(), actions.end(),
                           [&](const Action &a) { return a.kind == kind; });
  return count;
}

/// Most forwards a rank has run whose backward has not run yet.
int peakInFlight(const std::vector<Action> &actions) {
  int inFlight = 0, peak = 0;
  for (const Action &action : actions) {
    inFlight += action.kind == ActionKind::Forward    ? 1
                : action.kind == ActionKind::Backward ? -1
                                                      : 0;
    peak = std::max(peak, inFlight);
  }
  return peak;
}

/// Whether every send directly follows (in the same group) the compute action
/// producing what it sends.
bool sendsFollowTheirProducers(const std::vector<Action> &actions) {
  const Action *lastCompute = nullptr;
  for (const Action &action : actions) {
    if (action.isCompute()) {
      lastCompute = &action;
      continue;
    }
    if (action.kind != ActionKind::Send)
      continue;
    ActionKind producer = action.payload == Payload::Activation
                              ? ActionKind::Forward
                              : ActionKind::Backward;
    if (!lastCompute || lastCompute->kind != producer ||
        lastCompute->stage != action.stage ||
        lastCompute->microbatch != action.microbatch)
      return false;
  }
  return true;
}

/// The micro-batches of `kind` actions, in order.
std::vector<int> microbatchesOf(const std::vector<Action> &actions,
                                ActionKind kind) {
  std::vector<int> mbs;
  for (const Action &action : actions)
    if (action.kind == kind)
      mbs.push_back(action.microbatch);
  return mbs;
}
} // namespace

TEST(GeneratorTest, GPipeThreeRanksFourMicrobatches) {
  Schedule schedule = generate(ScheduleKind::GPipe, 3, 4);
  EXPECT_EQ(formatTorchCsv(schedule), "0F0,0F1,0F2,0F3,0B0,0B1,0B2,0B3\n"
                                      "1F0,1F1,1F2,1F3,1B0,1B1,1B2,1B3\n"
                                      "2F0,2F1,2F2,2F3,2B0,2B1,2B2,2B3\n");
}

TEST(GeneratorTest, OneFOneBFourRanksEightMicrobatches) {
  Schedule schedule = generate(ScheduleKind::OneFOneB, 4, 8);
  EXPECT_EQ(
      formatTorchCsv(schedule),
      "0F0,0F1,0F2,0F3,0B0,0F4,0B1,0F5,0B2,0F6,0B3,0F7,0B4,0B5,0B6,0B7\n"
      "1F0,1F1,1F2,1B0,1F3,1B1,1F4,1B2,1F5,1B3,1F6,1B4,1F7,1B5,1B6,1B7\n"
      "2F0,2F1,2B0,2F2,2B1,2F3,2B2,2F4,2B3,2F5,2B4,2F6,2B5,2F7,2B6,2B7\n"
      "3F0,3B0,3F1,3B1,3F2,3B2,3F3,3B3,3F4,3B4,3F5,3B5,3F6,3B6,3F7,3B7\n");
}

TEST(GeneratorTest, OneFOneBSingleRankAlternates) {
  Schedule schedule = generate(ScheduleKind::OneFOneB, 1, 3);
  EXPECT_EQ(formatTorchCsv(schedule), "0F0,0B0,0F1,0B1,0F2,0B2\n");
}

TEST(GeneratorTest, FieldsDescribeTheSchedule) {
  Schedule schedule = generate(ScheduleKind::OneFOneB, 4, 8);
  EXPECT_EQ(schedule.kind, "1f1b");
  EXPECT_EQ(schedule.name, "");
  EXPECT_EQ(schedule.numRanks, 4);
  EXPECT_EQ(schedule.numStages, 4);
  EXPECT_EQ(schedule.numDirections, 1);
  EXPECT_EQ(schedule.numMicrobatches, 8);
  EXPECT_TRUE(schedule.activationBytes.empty());
  EXPECT_TRUE(schedule.gradientBytes.empty());
  EXPECT_EQ(schedule.ranks.size(), 4u);
  EXPECT_EQ(generate(ScheduleKind::GPipe, 2, 5).kind, "gpipe");
}

/// Properties over many sizes: R ranks, N micro-batches in [R, 3R+1].
class GeneratorPropertyTest : public ::testing::TestWithParam<ScheduleKind> {};

TEST_P(GeneratorPropertyTest, ValidDeadlockFreeAndCommComplete) {
  ScheduleKind kind = GetParam();
  for (int ranks = 1; ranks <= 12; ++ranks) {
    for (int mbs = ranks; mbs <= 3 * ranks + 1; ++mbs) {
      SCOPED_TRACE(std::string(scheduleKindName(kind)) +
                   " R=" + std::to_string(ranks) + " N=" + std::to_string(mbs));
      Schedule schedule = generate(kind, ranks, mbs);
      EXPECT_EQ(messages(validateSchedule(schedule)), "");
      EXPECT_EQ(countKind(schedule, ActionKind::Forward), ranks * mbs);
      EXPECT_EQ(countKind(schedule, ActionKind::Backward), ranks * mbs);

      std::vector<int> ascending(mbs);
      for (int mb = 0; mb < mbs; ++mb)
        ascending[mb] = mb;
      for (int rank = 0; rank < ranks; ++rank) {
        const std::vector<Action> &actions = schedule.ranks[rank];
        ASSERT_EQ(actions.size(), 2u * mbs);
        for (const Action &action : actions)
          EXPECT_EQ(action.stage, rank);
        EXPECT_EQ(microbatchesOf(actions, ActionKind::Forward), ascending);
        EXPECT_EQ(microbatchesOf(actions, ActionKind::Backward), ascending);
        // 1F1B bounds the activations a rank keeps to R - r.
        int expectedPeak =
            kind == ScheduleKind::OneFOneB ? std::min(ranks - rank, mbs) : mbs;
        EXPECT_EQ(peakInFlight(actions), expectedPeak) << "rank " << rank;
      }
      EXPECT_FALSE(checkDeadlock(schedule).deadlocked);

      Schedule withComm = insertCommunication(schedule);
      EXPECT_EQ(messages(validateSchedule(withComm)), "");
      for (const std::vector<Action> &actions : withComm.ranks)
        EXPECT_TRUE(sendsFollowTheirProducers(actions)) << joined(actions);
      EXPECT_EQ(countKind(withComm, ActionKind::Send), 2 * (ranks - 1) * mbs);
      EXPECT_EQ(countKind(withComm, ActionKind::Recv), 2 * (ranks - 1) * mbs);
      DeadlockReport report = checkDeadlock(withComm);
      EXPECT_FALSE(report.deadlocked) << report.str();
      EXPECT_EQ(formatTorchCsv(withComm), formatTorchCsv(schedule));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, GeneratorPropertyTest,
                         ::testing::Values(ScheduleKind::GPipe,
                                           ScheduleKind::OneFOneB),
                         [](const auto &info) {
                           return info.param == ScheduleKind::GPipe
                                      ? std::string("GPipe")
                                      : std::string("OneFOneB");
                         });
