//===- ValidateTest.cpp - Structural validity rules -----------------------===//
//
// One hand-made bad schedule per rule, checking where the problem is reported
// and that its message names the rule.
//
//===----------------------------------------------------------------------===//

#include "TestHelpers.h"

#include <gtest/gtest.h>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;

namespace {
/// Two ranks, two stages, two micro-batches, 1F1B order: valid.
std::vector<std::vector<Action>> twoRankActions() {
  return {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
          {F(1, 0), B(1, 0), F(1, 1), B(1, 1)}};
}

/// The same with explicit communication, as insertCommunication places it.
std::vector<std::vector<Action>> twoRankActionsWithComm() {
  return {{F(0, 0), SendF(0, 0, 1), F(0, 1), SendF(0, 1, 1), RecvB(0, 0, 1),
           B(0, 0), RecvB(0, 1, 1), B(0, 1)},
          {RecvF(1, 0, 0), F(1, 0), B(1, 0), SendB(1, 0, 0), RecvF(1, 1, 0),
           F(1, 1), B(1, 1), SendB(1, 1, 0)}};
}

/// Expects exactly one problem, at (rank, index), whose message contains
/// every fragment.
void expectOneProblem(const Schedule &schedule, int rank, int index,
                      std::vector<std::string> fragments) {
  std::vector<Problem> problems = validateSchedule(schedule);
  ASSERT_EQ(problems.size(), 1u) << messages(problems);
  EXPECT_EQ(problems[0].rank, rank) << problems[0].message;
  EXPECT_EQ(problems[0].index, index) << problems[0].message;
  for (const std::string &fragment : fragments)
    EXPECT_TRUE(contains(problems[0].message, fragment));
}

const Problem *findProblem(const std::vector<Problem> &problems,
                           const std::string &fragment) {
  for (const Problem &problem : problems)
    if (problem.message.find(fragment) != std::string::npos)
      return &problem;
  return nullptr;
}
} // namespace

TEST(ValidateTest, ValidSchedulesHaveNoProblems) {
  EXPECT_EQ(messages(validateSchedule(makeSchedule(2, 2, twoRankActions()))),
            "");
  EXPECT_EQ(
      messages(validateSchedule(makeSchedule(2, 2, twoRankActionsWithComm()))),
      "");
  // The backward part of an overlapped pair counts as that stage's B.
  EXPECT_EQ(messages(validateSchedule(smallVSchedule())), "");
  // I then W instead of B.
  EXPECT_EQ(
      messages(validateSchedule(makeSchedule(
          1, 2, {{F(0, 0), I(0, 0), F(0, 1), W(0, 0), I(0, 1), W(0, 1)}}))),
      "");
}

TEST(ValidateTest, RankCountMustMatch) {
  Schedule schedule = makeSchedule(2, 2, twoRankActions());
  schedule.numRanks = 3;
  expectOneProblem(schedule, -1, -1, {"2 ranks", "numRanks is 3"});
}

TEST(ValidateTest, StagesAndMicrobatchesSplitIntoDirections) {
  Schedule stages = makeSchedule(3, 2, {{}}, /*directions=*/2);
  std::vector<Problem> problems = validateSchedule(stages);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems[0].rank, -1);
  EXPECT_EQ(problems[0].message,
            "numStages 3 is not a multiple of numDirections 2");

  Schedule microbatches = makeSchedule(2, 3, {{}}, /*directions=*/2);
  problems = validateSchedule(microbatches);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems[0].message,
            "numMicrobatches 3 is not a multiple of numDirections 2");
}

TEST(ValidateTest, ByteVectorsAreEmptyOrOnePerStage) {
  Schedule schedule = makeSchedule(2, 2, twoRankActions());
  schedule.activationBytes = {1, 2, 3};
  expectOneProblem(schedule, -1, -1,
                   {"activationBytes has 3 entries", "one per stage (2)"});
}

TEST(ValidateTest, StageMustBeInRange) {
  std::vector<std::vector<Action>> actions = twoRankActions();
  actions[1].insert(actions[1].begin() + 2, F(5, 0));
  expectOneProblem(makeSchedule(2, 2, actions), 1, 2,
                   {"5F0 names stage 5, outside [0, 2)"});
}

TEST(ValidateTest, MicrobatchMustBeInRange) {
  std::vector<std::vector<Action>> actions = twoRankActions();
  actions[0].push_back(B(0, 7));
  expectOneProblem(makeSchedule(2, 2, actions), 0, 4,
                   {"0B7 names micro-batch 7, outside [0, 2)"});
}

TEST(ValidateTest, StageRunsOnExactlyOneRank) {
  // Stage 1's micro-batch 1 moved to rank 0. Rank 0 names stage 1 first, so
  // the problem is at rank 1's first action of stage 1.
  Schedule schedule =
      makeSchedule(2, 2,
                   {{F(0, 0), F(0, 1), F(1, 1), B(1, 1), B(0, 0), B(0, 1)},
                    {F(1, 0), B(1, 0)}});
  expectOneProblem(
      schedule, 1, 0,
      {"stage 1 runs on rank 0 and rank 1; a stage must run on exactly one "
       "rank"});
}

TEST(ValidateTest, ForwardRunsOnce) {
  std::vector<std::vector<Action>> actions = twoRankActions();
  actions[0].insert(actions[0].begin() + 2, F(0, 1));
  expectOneProblem(makeSchedule(2, 2, actions), 0, 2,
                   {"forward of stage 0 micro-batch 1 runs twice"});
}

TEST(ValidateTest, BackwardRunsOnce) {
  std::vector<std::vector<Action>> actions = twoRankActions();
  actions[1].push_back(B(1, 0));
  expectOneProblem(makeSchedule(2, 2, actions), 1, 4,
                   {"full backward of stage 1 micro-batch 0 runs twice"});
}

TEST(ValidateTest, EitherBOrINotBoth) {
  Schedule schedule =
      makeSchedule(2, 2,
                   {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
                    {F(1, 0), B(1, 0), F(1, 1), I(1, 1), W(1, 1), B(1, 1)}});
  expectOneProblem(schedule, 1, 5,
                   {"stage 1 micro-batch 1 has both a full backward (B) and a "
                    "backward-input (I)"});
}

TEST(ValidateTest, BackwardAfterForward) {
  Schedule full = makeSchedule(2, 2,
                               {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
                                {B(1, 0), F(1, 0), F(1, 1), B(1, 1)}});
  expectOneProblem(full, 1, 0,
                   {"full backward of stage 1 micro-batch 0 runs before its "
                    "forward"});

  Schedule input = makeSchedule(1, 1, {{I(0, 0), F(0, 0), W(0, 0)}});
  std::vector<Problem> problems = validateSchedule(input);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems[0].rank, 0);
  EXPECT_EQ(problems[0].index, 0);
  EXPECT_EQ(problems[0].message,
            "backward-input of stage 0 micro-batch 0 runs before its forward");
}

TEST(ValidateTest, WeightAfterItsInput) {
  expectOneProblem(makeSchedule(1, 1, {{F(0, 0), W(0, 0), I(0, 0)}}), 0, 1,
                   {"backward-weight of stage 0 micro-batch 0 runs before "
                    "its backward-input"});
}

TEST(ValidateTest, WeightOnlyWithBackwardInput) {
  expectOneProblem(makeSchedule(1, 1, {{F(0, 0), B(0, 0), W(0, 0)}}), 0, 2,
                   {"backward-weight of stage 0 micro-batch 0 follows a full "
                    "backward (B)"});
}

TEST(ValidateTest, WeightRunsOnce) {
  expectOneProblem(makeSchedule(1, 1, {{F(0, 0), I(0, 0), W(0, 0), W(0, 0)}}),
                   0, 3,
                   {"backward-weight of stage 0 micro-batch 0 runs twice"});
}

TEST(ValidateTest, MissingWeightIsReportedAtTheEnd) {
  expectOneProblem(
      makeSchedule(1, 2, {{F(0, 0), I(0, 0), F(0, 1), I(0, 1), W(0, 0)}}), -1,
      -1,
      {"stage 0 is missing backward-weight (W) for micro-batch 1, which ran "
       "backward-input (I)"});
}

TEST(ValidateTest, MissingActionsListMicrobatchesCompactly) {
  Schedule schedule = makeSchedule(
      1, 8, {{F(0, 0), F(0, 1), F(0, 2), F(0, 4), F(0, 6), B(0, 0), B(0, 2)}});
  std::vector<Problem> problems = validateSchedule(schedule);
  ASSERT_EQ(problems.size(), 2u) << messages(problems);
  EXPECT_EQ(problems[0].rank, -1);
  EXPECT_EQ(problems[0].message,
            "stage 0 is missing forward for micro-batches 3, 5, 7");
  EXPECT_EQ(problems[1].message,
            "stage 0 is missing backward (B or I) for micro-batches 1, 3-7");
}

TEST(ValidateTest, StageWithoutActionsMissesEverything) {
  Schedule schedule = makeSchedule(
      2, 3, {{F(0, 0), F(0, 1), F(0, 2), B(0, 0), B(0, 1), B(0, 2)}});
  std::vector<Problem> problems = validateSchedule(schedule);
  ASSERT_EQ(problems.size(), 2u) << messages(problems);
  EXPECT_EQ(problems[0].message,
            "stage 1 is missing forward for micro-batches 0-2");
  EXPECT_EQ(problems[1].message,
            "stage 1 is missing backward (B or I) for micro-batches 0-2");
}

TEST(ValidateTest, OverlapPairsDifferentStageAndMicrobatch) {
  Schedule schedule = makeSchedule(1, 2, {{F(0, 0), FB(0, 1, 0, 1), B(0, 0)}});
  expectOneProblem(schedule, 0, 1,
                   {"overlapped pair (0F1;0B1)OVERLAP_F_B runs the forward "
                    "and backward of the same stage and micro-batch"});
}

TEST(ValidateTest, OverlapBackwardCountsAsBackward) {
  // The overlapped B duplicates a plain B of the same micro-batch.
  Schedule schedule =
      makeSchedule(1, 2, {{F(0, 0), FB(0, 1, 0, 0), B(0, 0), B(0, 1)}});
  expectOneProblem(schedule, 0, 2,
                   {"full backward of stage 0 micro-batch 0 runs twice"});
}

TEST(ValidateTest, PeerMustBeAnotherRank) {
  std::vector<std::vector<Action>> actions = twoRankActionsWithComm();
  actions[0][1].peer = 0;
  std::vector<Problem> problems = validateSchedule(makeSchedule(2, 2, actions));
  const Problem *self = findProblem(problems, "names its own rank as peer");
  ASSERT_NE(self, nullptr) << messages(problems);
  EXPECT_EQ(self->rank, 0);
  EXPECT_EQ(self->index, 1);
  EXPECT_EQ(self->message,
            "send 0SEND_F0 on rank 0 names its own rank as peer");

  actions[0][1].peer = 5;
  problems = validateSchedule(makeSchedule(2, 2, actions));
  const Problem *range = findProblem(problems, "which is not a rank");
  ASSERT_NE(range, nullptr) << messages(problems);
  EXPECT_EQ(range->index, 1);
  EXPECT_EQ(range->message,
            "send 0SEND_F0 on rank 0 has peer 5, which is not a rank (0..1)");
  // The receive on rank 1 now has no partner either.
  const Problem *lone = findProblem(problems, "has no matching send");
  ASSERT_NE(lone, nullptr) << messages(problems);
  EXPECT_EQ(lone->rank, 1);
  EXPECT_EQ(lone->index, 0);
}

TEST(ValidateTest, SendNeedsAReceive) {
  std::vector<std::vector<Action>> actions = twoRankActionsWithComm();
  actions[1].erase(actions[1].begin() + 4); // 1RECV_F1
  expectOneProblem(makeSchedule(2, 2, actions), 0, 3,
                   {"send 0SEND_F1 to rank 1 has no matching receive 1RECV_F1 "
                    "on rank 1"});
}

TEST(ValidateTest, ReceiveNeedsASend) {
  std::vector<std::vector<Action>> actions = twoRankActionsWithComm();
  actions[1].erase(actions[1].begin() + 3); // 1SEND_B0
  expectOneProblem(makeSchedule(2, 2, actions), 0, 4,
                   {"recv 0RECV_B0 from rank 1 has no matching send 1SEND_B0 "
                    "on rank 1"});
}

TEST(ValidateTest, EachMessageReceivedOnce) {
  std::vector<std::vector<Action>> actions = twoRankActionsWithComm();
  actions[1].insert(actions[1].begin() + 1, RecvF(1, 0, 0));
  expectOneProblem(makeSchedule(2, 2, actions), 1, 1,
                   {"recv 1RECV_F0 from rank 0 repeats the receive at action 0",
                    "exactly once"});
}

TEST(ValidateTest, PayloadMustMatch) {
  // A gradient receive cannot take an activation.
  std::vector<std::vector<Action>> actions = twoRankActionsWithComm();
  actions[0][1] = SendB(0, 0, 1);
  std::vector<Problem> problems = validateSchedule(makeSchedule(2, 2, actions));
  EXPECT_NE(findProblem(problems, "send 0SEND_B0 has no stage to send to: "
                                  "stage 0 is the first stage of its "
                                  "direction"),
            nullptr)
      << messages(problems);
  EXPECT_NE(findProblem(problems, "recv 1RECV_F0 from rank 0 has no matching "
                                  "send 0SEND_F0 on rank 0"),
            nullptr)
      << messages(problems);
}

TEST(ValidateTest, SendingStageRunsOnTheSender) {
  // Three ranks; rank 2 claims to send stage 0's activation.
  Schedule schedule = makeSchedule(3, 1,
                                   {{F(0, 0), B(0, 0)},
                                    {RecvF(1, 0, 2), F(1, 0), B(1, 0)},
                                    {SendF(0, 0, 1), F(2, 0), B(2, 0)}});
  std::vector<Problem> problems = validateSchedule(schedule);
  const Problem *problem = findProblem(problems, "the sending stage");
  ASSERT_NE(problem, nullptr) << messages(problems);
  EXPECT_EQ(problem->rank, 2);
  EXPECT_EQ(problem->index, 0);
  EXPECT_EQ(problem->message,
            "send 0SEND_F0 is on rank 2, but stage 0 runs on rank 0; the "
            "sending stage must run on the sender");
  // The receive names rank 2 as its sender, but stage 0 runs on rank 0.
  EXPECT_NE(findProblem(problems, "recv 1RECV_F0 comes from rank 2, but its "
                                  "sending stage 0 runs on rank 0"),
            nullptr)
      << messages(problems);
}

TEST(ValidateTest, ReceivingStageRunsOnThePeer) {
  Schedule schedule = makeSchedule(3, 1,
                                   {{F(0, 0), SendF(0, 0, 2), B(0, 0)},
                                    {F(1, 0), B(1, 0)},
                                    {RecvF(1, 0, 0), F(2, 0), B(2, 0)}});
  std::vector<Problem> problems = validateSchedule(schedule);
  const Problem *send = findProblem(problems, "goes to rank 2");
  ASSERT_NE(send, nullptr) << messages(problems);
  EXPECT_EQ(send->rank, 0);
  EXPECT_EQ(send->index, 1);
  EXPECT_EQ(send->message, "send 0SEND_F0 goes to rank 2, but its receiving "
                           "stage 1 runs on rank 1");
  EXPECT_NE(findProblem(problems, "recv 1RECV_F0 is on rank 2, but stage 1 "
                                  "runs on rank 1; the receiving stage must "
                                  "run on the receiver"),
            nullptr)
      << messages(problems);
}

TEST(ValidateTest, SendFollowsItsProducerAndReceivePrecedesItsConsumer) {
  std::vector<std::vector<Action>> actions = twoRankActionsWithComm();
  std::swap(actions[0][0], actions[0][1]); // 0SEND_F0 before 0F0
  std::swap(actions[1][0], actions[1][1]); // 1RECV_F0 after 1F0
  std::vector<Problem> problems = validateSchedule(makeSchedule(2, 2, actions));
  ASSERT_EQ(problems.size(), 2u) << messages(problems);
  EXPECT_EQ(problems[0].rank, 0);
  EXPECT_EQ(problems[0].index, 0);
  EXPECT_EQ(problems[0].message,
            "send 0SEND_F0 comes before the forward of stage 0 micro-batch 0, "
            "which produces what it sends");
  EXPECT_EQ(problems[1].rank, 1);
  EXPECT_EQ(problems[1].index, 1);
  EXPECT_EQ(problems[1].message,
            "recv 1RECV_F0 comes after the forward of stage 1 micro-batch 0, "
            "which consumes it");
}

TEST(ValidateTest, NothingFlowsPastTheEndsOfADirection) {
  Schedule schedule = makeSchedule(
      2, 1, {{F(0, 0), B(0, 0)}, {F(1, 0), SendF(1, 0, 0), B(1, 0)}});
  std::vector<Problem> problems = validateSchedule(schedule);
  ASSERT_EQ(problems.size(), 1u) << messages(problems);
  EXPECT_EQ(problems[0].rank, 1);
  EXPECT_EQ(problems[0].index, 1);
  EXPECT_EQ(problems[0].message, "send 1SEND_F0 has no stage to send to: "
                                 "stage 1 is the last stage of its direction");
}

TEST(ValidateTest, ProblemsAreOrderedByRankAndIndex) {
  Schedule schedule =
      makeSchedule(2, 2,
                   {{F(0, 0), F(0, 0), B(0, 0), B(0, 1)},
                    {F(1, 0), B(1, 0), F(1, 1), B(1, 1), B(1, 1)}});
  std::vector<Problem> problems = validateSchedule(schedule);
  ASSERT_GE(problems.size(), 3u) << messages(problems);
  EXPECT_EQ(problems[0].rank, 0);
  EXPECT_EQ(problems[0].index, 1);
  // Rank 0's 0B1 runs before 0F1, which never runs.
  EXPECT_EQ(problems[1].rank, 0);
  EXPECT_EQ(problems[1].index, 3);
  EXPECT_EQ(problems[2].rank, 1);
  EXPECT_EQ(problems[2].index, 4);
  EXPECT_EQ(problems.back().rank, -1);
}
