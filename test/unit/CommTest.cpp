//===- CommTest.cpp - Communication insertion -----------------------------===//
//
// Expected sequences are derived by hand from the placement rule: run the
// compute order in lock-step rounds (each rank runs its next action once its
// inputs were produced in an earlier round); a receive goes right before its
// consumer, and the send goes before the sender's first action in the
// consumer's round or later. Before each compute action: due sends, then
// receives. For GPipe and 1F1B this is the send of the previous action's
// outputs.
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

TEST(CommTest, OneFOneBTwoRanksWithBytes) {
  Schedule schedule = makeSchedule(2, 2,
                                   {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
                                    {F(1, 0), B(1, 0), F(1, 1), B(1, 1)}});
  schedule.activationBytes = {100, 200};
  schedule.gradientBytes = {10, 20};
  Schedule lowered = insertCommunication(schedule);

  std::vector<Action> rank0 = {F(0, 0),
                               SendF(0, 0, 1, 100),
                               F(0, 1),
                               SendF(0, 1, 1, 100),
                               RecvB(0, 0, 1, 20),
                               B(0, 0),
                               RecvB(0, 1, 1, 20),
                               B(0, 1)};
  std::vector<Action> rank1 = {
      RecvF(1, 0, 0, 100), F(1, 0), B(1, 0), SendB(1, 0, 0, 20),
      RecvF(1, 1, 0, 100), F(1, 1), B(1, 1), SendB(1, 1, 0, 20)};
  EXPECT_EQ(joined(lowered.ranks[0]), joined(rank0));
  EXPECT_EQ(joined(lowered.ranks[1]), joined(rank1));
  EXPECT_EQ(lowered.ranks[0], rank0); // peers and bytes too
  EXPECT_EQ(lowered.ranks[1], rank1);
  EXPECT_EQ(lowered.numRanks, 2);
  EXPECT_EQ(lowered.kind, "test");
  EXPECT_EQ(lowered.activationBytes, schedule.activationBytes);
}

TEST(CommTest, VShapeNeedsNoCommAtTheTurn) {
  // Stages 1 and 2 share rank 1, so 1F -> 2F and 2B -> 1B stay local.
  Schedule lowered = insertCommunication(smallVSchedule());
  EXPECT_EQ(joined(lowered.ranks[0]),
            "0F0,0SEND_F0,0F1,0SEND_F1,3RECV_F0,3F0,3RECV_F1,"
            "(3F1;3B0)OVERLAP_F_B,3SEND_B0,3B1,3SEND_B1,0RECV_B0,0B0,"
            "0RECV_B1,0B1");
  EXPECT_EQ(joined(lowered.ranks[1]),
            "1RECV_F0,1F0,2F0,2SEND_F0,1RECV_F1,1F1,2F1,2SEND_F1,2RECV_B0,2B0,"
            "1B0,1SEND_B0,2RECV_B1,2B1,1B1,1SEND_B1");
  EXPECT_EQ(lowered.ranks[0][1].peer, 1);
  EXPECT_EQ(lowered.ranks[1][0].peer, 0);
  EXPECT_EQ(lowered.ranks[1][0].bytes, 0); // no byte sizes given
  EXPECT_EQ(messages(validateSchedule(lowered)), "");
  EXPECT_FALSE(checkDeadlock(lowered).deadlocked);
}

TEST(CommTest, ExistingCommIsReplaced) {
  Schedule once = insertCommunication(smallVSchedule());
  Schedule twice = insertCommunication(once);
  EXPECT_EQ(twice.ranks, once.ranks);
}

TEST(CommTest, BackwardInputSendsTheGradientAndWeightSendsNothing) {
  Schedule schedule = makeSchedule(
      2, 1, {{F(0, 0), I(0, 0), W(0, 0)}, {F(1, 0), I(1, 0), W(1, 0)}});
  Schedule lowered = insertCommunication(schedule);
  EXPECT_EQ(joined(lowered.ranks[0]), "0F0,0SEND_F0,0RECV_B0,0I0,0W0");
  EXPECT_EQ(joined(lowered.ranks[1]), "1RECV_F0,1F0,1I0,1SEND_B0,1W0");
}

TEST(CommTest, CrossingDirectionsSendWhenTheConsumerRuns) {
  // Two directions between two ranks (0 -> 1 on ranks 0 -> 1, 2 -> 3 on
  // ranks 1 -> 0). Rounds: 0F0/2F0 0, 0F1/2F1 1, 3F0/1F0 2, 3F1/1F1 3,
  // 3B0/1B0 4, 3B1/1B1 5, 0B0/2B0 6, 0B1/2B1 7. Each send waits for the
  // round of its consumer, so it shares a group with that round's receive.
  Schedule schedule = makeSchedule(
      4, 4,
      {{F(0, 0), F(0, 1), F(3, 0), F(3, 1), B(3, 0), B(3, 1), B(0, 0), B(0, 1)},
       {F(2, 0), F(2, 1), F(1, 0), F(1, 1), B(1, 0), B(1, 1), B(2, 0),
        B(2, 1)}},
      /*directions=*/2);
  Schedule lowered = insertCommunication(schedule);
  EXPECT_EQ(joined(lowered.ranks[0]),
            "0F0,0F1,0SEND_F0,3RECV_F0,3F0,0SEND_F1,3RECV_F1,3F1,3B0,3B1,"
            "3SEND_B0,0RECV_B0,0B0,3SEND_B1,0RECV_B1,0B1");
  EXPECT_EQ(joined(lowered.ranks[1]),
            "2F0,2F1,2SEND_F0,1RECV_F0,1F0,2SEND_F1,1RECV_F1,1F1,1B0,1B1,"
            "1SEND_B0,2RECV_B0,2B0,1SEND_B1,2RECV_B1,2B1");
  EXPECT_EQ(messages(validateSchedule(lowered)), "");
  DeadlockReport report = checkDeadlock(lowered);
  EXPECT_FALSE(report.deadlocked) << report.str();
}
