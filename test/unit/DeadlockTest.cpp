//===- DeadlockTest.cpp - Abstract execution ------------------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {
/// Stage 0 and 3 on rank 0, stages 1 and 2 on rank 1, two directions
/// (0 -> 1 and 2 -> 3): each rank feeds the other. Forwards only.
Schedule crossingForwards(std::vector<std::vector<Action>> ranks) {
  return makeSchedule(4, 4, std::move(ranks), /*directions=*/2);
}
} // namespace

TEST(DeadlockTest, ValidSchedulesFinish) {
  for (const Schedule &schedule :
       {smallVSchedule(), insertCommunication(smallVSchedule())}) {
    DeadlockReport report = checkDeadlock(schedule);
    EXPECT_FALSE(report.deadlocked) << report.str();
    EXPECT_TRUE(report.stuck.empty());
    EXPECT_EQ(report.numRanks, 2);
    EXPECT_EQ(report.str(), "no deadlock");
  }
}

TEST(DeadlockTest, CrossRankCycleInComputeOrder) {
  // Rank 0 wants stage 1's gradient of micro-batch 0 before it sends
  // micro-batch 1 forward; rank 1 runs micro-batch 1 first.
  Schedule schedule = makeSchedule(2, 2,
                                   {{F(0, 0), B(0, 0), F(0, 1), B(0, 1)},
                                    {F(1, 1), B(1, 1), F(1, 0), B(1, 0)}});
  // Structurally fine: only execution reveals the cycle.
  EXPECT_EQ(messages(validateSchedule(schedule)), "");

  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_TRUE(report.deadlocked);
  ASSERT_EQ(report.stuck.size(), 2u);
  EXPECT_EQ(report.stuck[0].rank, 0);
  EXPECT_EQ(report.stuck[0].index, 1);
  EXPECT_EQ(report.stuck[0].action, "0B0");
  EXPECT_EQ(report.stuck[0].waitsOn, "1B0 on rank 1");
  EXPECT_EQ(report.stuck[1].rank, 1);
  EXPECT_EQ(report.stuck[1].index, 0);
  EXPECT_EQ(report.stuck[1].waitsOn, "0F1 on rank 0");
  EXPECT_EQ(report.str(), "deadlock: 2 of 2 ranks cannot proceed\n"
                          "  rank 0 waits at action 1 (0B0): 1B0 on rank 1\n"
                          "  rank 1 waits at action 0 (1F1): 0F1 on rank 0");
}

TEST(DeadlockTest, WaitingForAnActionNoRankRuns) {
  Schedule schedule = makeSchedule(
      2, 2, {{F(0, 0), B(0, 0)}, {F(1, 0), B(1, 0), F(1, 1), B(1, 1)}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_TRUE(report.deadlocked);
  ASSERT_EQ(report.stuck.size(), 1u);
  EXPECT_EQ(report.stuck[0].rank, 1);
  EXPECT_EQ(report.stuck[0].index, 2);
  EXPECT_EQ(report.stuck[0].waitsOn,
            "0F1, which no rank runs (missing action)");
}

TEST(DeadlockTest, MissingGradientNamesBothProducers) {
  Schedule schedule = makeSchedule(2, 1, {{F(0, 0), B(0, 0)}, {F(1, 0)}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_EQ(report.stuck.size(), 1u);
  EXPECT_EQ(report.stuck[0].rank, 0);
  EXPECT_EQ(report.stuck[0].waitsOn,
            "1B0 or 1I0, which no rank runs (missing action)");
}

TEST(DeadlockTest, WaitingForItself) {
  Schedule schedule = makeSchedule(1, 1, {{B(0, 0), F(0, 0)}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_EQ(report.stuck.size(), 1u);
  EXPECT_EQ(report.stuck[0].waitsOn,
            "0F0 on rank 0, which this rank runs later (action 1)");
}

TEST(DeadlockTest, OverlapWaitsForBothParts) {
  // The F part of the pair is ready; its B part needs stage 1's gradient,
  // which no rank produces.
  Schedule schedule = makeSchedule(2, 2, {{F(0, 0), FB(0, 1, 0, 0)}, {}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_EQ(report.stuck.size(), 1u);
  EXPECT_EQ(report.stuck[0].index, 1);
  EXPECT_EQ(report.stuck[0].action, "(0F1;0B0)OVERLAP_F_B");
  EXPECT_EQ(report.stuck[0].waitsOn,
            "1B0 or 1I0, which no rank runs (missing action)");
}

TEST(DeadlockTest, SeparateSendGroupsDeadlockUnderRendezvous) {
  // Each rank sends to the other in a group of its own, and posts the
  // receive only in a later group: both sends wait forever.
  Schedule schedule = crossingForwards(
      {{F(0, 0), SendF(0, 0, 1), F(0, 1), RecvF(3, 0, 1), F(3, 0)},
       {F(2, 0), SendF(2, 0, 0), F(2, 1), RecvF(1, 0, 0), F(1, 0)}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_TRUE(report.deadlocked);
  ASSERT_EQ(report.stuck.size(), 2u);
  EXPECT_EQ(report.stuck[0].index, 1);
  EXPECT_EQ(report.stuck[0].waitsOn,
            "send 0SEND_F0 to rank 1: rank 1 has not posted the matching "
            "receive (it waits at action 1, 2SEND_F0)");
  EXPECT_EQ(report.stuck[1].index, 1);
  EXPECT_EQ(report.stuck[1].waitsOn,
            "send 2SEND_F0 to rank 0: rank 0 has not posted the matching "
            "receive (it waits at action 1, 0SEND_F0)");

  // The same compute order runs fine as dataflow...
  Schedule computeOnly = crossingForwards(
      {{F(0, 0), F(0, 1), F(3, 0)}, {F(2, 0), F(2, 1), F(1, 0)}});
  EXPECT_FALSE(checkDeadlock(computeOnly).deadlocked);
  // ...and with each send grouped with the receive, it finishes too.
  Schedule grouped = crossingForwards(
      {{F(0, 0), F(0, 1), SendF(0, 0, 1), RecvF(3, 0, 1), F(3, 0)},
       {F(2, 0), F(2, 1), SendF(2, 0, 0), RecvF(1, 0, 0), F(1, 0)}});
  DeadlockReport groupedReport = checkDeadlock(grouped);
  EXPECT_FALSE(groupedReport.deadlocked) << groupedReport.str();
}

TEST(DeadlockTest, SendingRightAfterTheProducerCanDeadlock) {
  // CommTest.CrossingDirectionsSendWhenTheConsumerRuns with each send placed
  // in the group right after its producer instead: each rank's first send
  // waits for a receive the other rank posts only after its own send.
  Schedule schedule = makeSchedule(
      4, 4,
      {{F(0, 0), SendF(0, 0, 1), F(0, 1), SendF(0, 1, 1), RecvF(3, 0, 1),
        F(3, 0), RecvF(3, 1, 1), F(3, 1), B(3, 0), SendB(3, 0, 1), B(3, 1),
        SendB(3, 1, 1), RecvB(0, 0, 1), B(0, 0), RecvB(0, 1, 1), B(0, 1)},
       {F(2, 0), SendF(2, 0, 0), F(2, 1), SendF(2, 1, 0), RecvF(1, 0, 0),
        F(1, 0), RecvF(1, 1, 0), F(1, 1), B(1, 0), SendB(1, 0, 0), B(1, 1),
        SendB(1, 1, 0), RecvB(2, 0, 0), B(2, 0), RecvB(2, 1, 0), B(2, 1)}},
      /*directions=*/2);
  EXPECT_EQ(messages(validateSchedule(schedule)), "");
  DeadlockReport report = checkDeadlock(schedule);
  EXPECT_EQ(report.str(),
            "deadlock: 2 of 2 ranks cannot proceed\n"
            "  rank 0 waits at action 1 (0SEND_F0): send 0SEND_F0 to rank 1: "
            "rank 1 has not posted the matching receive (it waits at action "
            "1, 2SEND_F0)\n"
            "  rank 1 waits at action 1 (2SEND_F0): send 2SEND_F0 to rank 0: "
            "rank 0 has not posted the matching receive (it waits at action "
            "1, 0SEND_F0)");
}

TEST(DeadlockTest, InputNeverReceived) {
  Schedule schedule =
      makeSchedule(2, 1, {{F(0, 0), SendF(0, 0, 1)}, {F(1, 0)}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_EQ(report.stuck.size(), 2u);
  EXPECT_EQ(report.stuck[0].waitsOn,
            "send 0SEND_F0 to rank 1: rank 1 has not posted the matching "
            "receive (it waits at action 0, 1F0)");
  EXPECT_EQ(report.stuck[1].waitsOn,
            "0F0 on rank 0: its output was never received (no 1RECV_F0 on "
            "this rank before this action)");
}

TEST(DeadlockTest, SendBeforeItsDataExists) {
  Schedule schedule = makeSchedule(
      2, 1, {{SendF(0, 0, 1), F(0, 0)}, {RecvF(1, 0, 0), F(1, 0)}});
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_EQ(report.stuck.size(), 2u);
  EXPECT_EQ(report.stuck[0].waitsOn,
            "send 0SEND_F0 to rank 1: 0F0 has not run on this rank before it");
  EXPECT_EQ(report.stuck[1].waitsOn,
            "recv 1RECV_F0 from rank 0: rank 0 has not posted the matching "
            "send (it waits at action 0, 0SEND_F0)");
}

TEST(DeadlockTest, PeerFinishedWithoutMatching) {
  Schedule schedule =
      makeSchedule(2, 1, {{F(0, 0), SendF(0, 0, 1)}, {F(1, 0)}});
  schedule.ranks[1].clear();
  DeadlockReport report = checkDeadlock(schedule);
  ASSERT_EQ(report.stuck.size(), 1u);
  EXPECT_EQ(report.str(), "deadlock: 1 of 2 ranks cannot proceed\n"
                          "  rank 0 waits at action 1 (0SEND_F0): send "
                          "0SEND_F0 to rank 1: rank 1 finished without "
                          "posting the matching receive");
}

TEST(DeadlockTest, LargeOneFOneBFinishes) {
  ScheduleParams params;
  params.ranks = 64;
  params.microbatches = 1024;
  Schedule schedule = generateSchedule(params);
  EXPECT_FALSE(checkDeadlock(schedule).deadlocked);
  DeadlockReport report = checkDeadlock(insertCommunication(schedule));
  EXPECT_FALSE(report.deadlocked) << report.str();
}
