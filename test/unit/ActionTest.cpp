//===- ActionTest.cpp - Action factories and text -------------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

TEST(ActionTest, ComputeTextFollowsPyTorch) {
  EXPECT_EQ(Action::forward(2, 0).str(), "2F0");
  EXPECT_EQ(Action::backwardInput(1, 3).str(), "1I3");
  EXPECT_EQ(Action::backwardWeight(0, 3).str(), "0W3");
  EXPECT_EQ(Action::backward(3, 1).str(), "3B1");
  EXPECT_EQ(Action::overlap(0, 7, 7, 3).str(), "(0F7;7B3)OVERLAP_F_B");
  EXPECT_EQ(Action::forward(12, 345).str(), "12F345");
}

TEST(ActionTest, CommTextNamesLocalStageAndPayload) {
  EXPECT_EQ(SendF(0, 1, 1).str(), "0SEND_F1");
  EXPECT_EQ(RecvF(1, 1, 0).str(), "1RECV_F1");
  EXPECT_EQ(SendB(1, 0, 0).str(), "1SEND_B0");
  EXPECT_EQ(RecvB(0, 0, 1).str(), "0RECV_B0");
}

TEST(ActionTest, FactoriesFillFields) {
  Action overlap = Action::overlap(4, 5, 6, 7);
  EXPECT_EQ(overlap.kind, ActionKind::OverlapFB);
  EXPECT_EQ(overlap.stage, 4);
  EXPECT_EQ(overlap.microbatch, 5);
  EXPECT_EQ(overlap.stage2, 6);
  EXPECT_EQ(overlap.microbatch2, 7);
  EXPECT_TRUE(overlap.isCompute());

  Action send = Action::send(Payload::Gradient, 3, 2, 1, 4096);
  EXPECT_EQ(send.kind, ActionKind::Send);
  EXPECT_EQ(send.payload, Payload::Gradient);
  EXPECT_EQ(send.stage, 3);
  EXPECT_EQ(send.microbatch, 2);
  EXPECT_EQ(send.peer, 1);
  EXPECT_EQ(send.bytes, 4096);
  EXPECT_TRUE(send.isComm());
  EXPECT_FALSE(send.isCompute());

  Action forward = Action::forward(1, 2);
  EXPECT_EQ(forward.stage2, -1);
  EXPECT_EQ(forward.peer, -1);
  EXPECT_EQ(forward.bytes, 0);
}

TEST(ActionTest, EqualityComparesAllFields) {
  EXPECT_EQ(F(1, 2), Action::forward(1, 2));
  EXPECT_NE(F(1, 2), B(1, 2));
  EXPECT_NE(SendF(0, 1, 1, 10), SendF(0, 1, 1, 20));
}
