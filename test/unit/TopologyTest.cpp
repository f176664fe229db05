//===- TopologyTest.cpp - Stage neighbours and placement ------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

TEST(TopologyTest, OneDirectionIsOneChain) {
  Schedule schedule = makeSchedule(4, 4, {{}, {}});
  EXPECT_EQ(schedule.prevStage(0), -1);
  EXPECT_EQ(schedule.prevStage(1), 0);
  EXPECT_EQ(schedule.prevStage(3), 2);
  EXPECT_EQ(schedule.nextStage(0), 1);
  EXPECT_EQ(schedule.nextStage(3), -1);
  EXPECT_EQ(schedule.prevStage(4), -1);
  EXPECT_EQ(schedule.nextStage(-1), -1);
}

TEST(TopologyTest, TwoDirectionsAreSeparateChains) {
  // DualPipe shape: direction 0 holds stages 0..3, direction 1 stages 4..7.
  Schedule schedule = makeSchedule(8, 10, {{}}, /*directions=*/2);
  EXPECT_EQ(schedule.stagesPerDirection(), 4);
  EXPECT_EQ(schedule.microbatchesPerStage(), 5);
  EXPECT_EQ(schedule.nextStage(3), -1);
  EXPECT_EQ(schedule.prevStage(4), -1);
  EXPECT_EQ(schedule.nextStage(4), 5);
  EXPECT_EQ(schedule.prevStage(7), 6);
  EXPECT_EQ(schedule.nextStage(7), -1);
}

TEST(TopologyTest, RankOfStageIsFirstRankMentioningIt) {
  Schedule schedule = makeSchedule(
      6, 1, {{F(0, 0), FB(1, 0, 5, 0)}, {RecvF(2, 0, 0)}, {}, {F(4, 0)}});
  EXPECT_EQ(schedule.rankOfStage(0), 0);
  EXPECT_EQ(schedule.rankOfStage(1), 0);
  EXPECT_EQ(schedule.rankOfStage(5), 0); // the backward part of an overlap
  EXPECT_EQ(schedule.rankOfStage(2), 1); // named only by a comm action
  EXPECT_EQ(schedule.rankOfStage(3), -1);
  EXPECT_EQ(schedule.rankOfStage(4), 3);
  EXPECT_EQ(schedule.rankOfStage(6), -1);
  EXPECT_EQ(schedule.rankOfStage(-1), -1);
}
