//===- SimulatorTest.cpp - Cost-model simulator and activation peaks ------===//
//
// Expectations come from outside the simulator:
//  - small schedules timed by hand (the working is in the comments);
//  - the closed forms of the literature: 1F1B and GPipe bubble (PP-1)(F+B),
//    ZB-H1 (PP-1)(F+B-2W) (B = full backward), DualPipe's largest bubble
//    (PP/2-1)(F&B+B-3W), with B = I + W;
//  - issue 4's DualPipe 8x20 figures (makespan 59, bubbles 3.5 .. 4.5,
//    PP+1 live activations) on DeepSeek's reference order, with busy time
//    recounted from the fixture's cells;
//  - the README's activation column (R = 8, N = 32), measured elsewhere with
//    the same lifetime rule (F to B, or to W when the backward is split).
//
//===----------------------------------------------------------------------===//

#include "passes/Simulate/Simulator.h"

#include "test/unit/TestHelpers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace pipeweave::schedule;
using namespace pipeweave::schedule::pwtest;
using namespace pipeweave::simulate;

namespace {

Simulation simulateOk(const Schedule &schedule, const CostModel &costs) {
  SimulateResult result = simulate(schedule, costs);
  EXPECT_TRUE(result.simulation.has_value())
      << (result.error ? result.error->message : "");
  EXPECT_FALSE(result.error.has_value());
  return result.simulation ? *result.simulation : Simulation();
}

Schedule generated(ScheduleKind kind, int ranks, int microbatches,
                   int stagesPerRank = 0) {
  ScheduleParams params;
  params.kind = kind;
  params.ranks = ranks;
  params.microbatches = microbatches;
  params.stagesPerRank = stagesPerRank;
  return generateSchedule(params);
}

/// DualPipe's README costs: F = I = W = 1 (so B = 2), F&B = 2.5.
CostModel readmeCosts(int numStages) {
  return uniformCosts(numStages, 1.0, 1.0, 1.0, 2.5);
}

/// Compact "start-end" list of a rank's timeline for readable failures.
std::vector<std::pair<double, double>> times(const RankResult &rank) {
  std::vector<std::pair<double, double>> spans;
  for (const TimedAction &timed : rank.timeline)
    spans.push_back({timed.start, timed.end});
  return spans;
}

using Spans = std::vector<std::pair<double, double>>;

/// Two ranks, one stage each, two micro-batches, 1F1B order.
Schedule twoStageOneFOneB() {
  return makeSchedule(2, 2,
                      {{F(0, 0), F(0, 1), B(0, 0), B(0, 1)},
                       {F(1, 0), B(1, 0), F(1, 1), B(1, 1)}});
}

//===----------------------------------------------------------------------===//
// Hand-timed schedules
//===----------------------------------------------------------------------===//

// F = 1, B = 2, no transfer cost.
//   rank 0: 0F0 [0,1]  0F1 [1,2]  0B0 waits for 1B0 (4): [4,6]
//           0B1 waits for 1B1 (7): [7,9]
//   rank 1: 1F0 waits for 0F0 (1): [1,2]  1B0 [2,4] (last stage: loss local)
//           1F1 [4,5] (0F1 arrived at 2)  1B1 [5,7]
TEST(SimulatorTest, TwoStageOneFOneBByHand) {
  Simulation sim = simulateOk(twoStageOneFOneB(), uniformCosts(2, 1, 1, 1));
  EXPECT_EQ(times(sim.ranks[0]), (Spans{{0, 1}, {1, 2}, {4, 6}, {7, 9}}));
  EXPECT_EQ(times(sim.ranks[1]), (Spans{{1, 2}, {2, 4}, {4, 5}, {5, 7}}));
  EXPECT_EQ(sim.makespan, 9);
  for (const RankResult &rank : sim.ranks) {
    EXPECT_EQ(rank.busy, 6);
    EXPECT_EQ(rank.bubble, 3); // (PP-1)(F+B)
    EXPECT_DOUBLE_EQ(rank.bubbleRatio, 3.0 / 9.0);
  }
  EXPECT_EQ(sim.busy, 12);
  EXPECT_EQ(sim.bubble, 6);
  EXPECT_DOUBLE_EQ(sim.bubbleRatio, 6.0 / 18.0);
  EXPECT_EQ(sim.ranks[0].stages, std::vector<int>{0});
  EXPECT_EQ(sim.ranks[1].stages, std::vector<int>{1});

  // The last action is 0B1; it waited for 1B1, which followed rank 1's own
  // chain back to 1F0, which waited for 0F0.
  const std::vector<CriticalStep> &path = sim.criticalPath.steps;
  ASSERT_EQ(path.size(), 6u);
  std::vector<std::string> actions;
  for (const CriticalStep &step : path)
    actions.push_back(std::to_string(step.rank) + ":" + step.action.str());
  EXPECT_EQ(actions, (std::vector<std::string>{"0:0F0", "1:1F0", "1:1B0",
                                               "1:1F1", "1:1B1", "0:0B1"}));
  EXPECT_EQ(path[0].cause, StepCause::Start);
  EXPECT_EQ(path[1].cause, StepCause::Transfer);
  EXPECT_EQ(path[2].cause, StepCause::SameRank);
  EXPECT_EQ(path[5].cause, StepCause::Transfer);
  EXPECT_EQ(path[5].index, 3);
  EXPECT_EQ(path[5].start, 7);
  EXPECT_EQ(path[5].end, 9);
  EXPECT_EQ(sim.criticalPath.rankCrossings, 2);

  // Two activations go right, two gradients left.
  ASSERT_EQ(sim.transfers.size(), 4u);
  int activations = 0;
  for (const Transfer &transfer : sim.transfers) {
    bool isActivation = transfer.payload == Payload::Activation;
    activations += isActivation;
    EXPECT_EQ(transfer.fromRank, isActivation ? 0 : 1);
    EXPECT_EQ(transfer.toRank, isActivation ? 1 : 0);
    EXPECT_EQ(transfer.sent, transfer.arrived); // free transfers
  }
  EXPECT_EQ(activations, 2);
}

// The same order with latency 0.5 and bandwidth 100 bytes per unit;
// activations of stage 0 are 100 bytes (1.5 per transfer), gradients of
// stage 1 are 300 bytes (3.5 per transfer).
//   rank 1: 1F1 ... 1F0 [2.5,3.5]  1B0 [3.5,5.5]  1F1 [5.5,6.5]  1B1 [6.5,8.5]
//   rank 0: 0F0 [0,1]  0F1 [1,2]  0B0 [5.5+3.5=9, 11]  0B1 [8.5+3.5=12, 14]
TEST(SimulatorTest, TransfersCostLatencyPlusBytesOverBandwidth) {
  CostModel costs = uniformCosts(2, 1, 1, 1);
  costs.p2pLatency = 0.5;
  costs.p2pBandwidth = 100.0;
  costs.stages[0].activationBytes = 100;
  costs.stages[1].gradientBytes = 300;
  // Sizes of the other directions do not travel.
  costs.stages[0].gradientBytes = 1000000;
  costs.stages[1].activationBytes = 1000000;
  Simulation sim = simulateOk(twoStageOneFOneB(), costs);
  EXPECT_EQ(times(sim.ranks[0]), (Spans{{0, 1}, {1, 2}, {9, 11}, {12, 14}}));
  EXPECT_EQ(times(sim.ranks[1]),
            (Spans{{2.5, 3.5}, {3.5, 5.5}, {5.5, 6.5}, {6.5, 8.5}}));
  EXPECT_EQ(sim.makespan, 14); // 9 + 1.5 + 3.5: the path crosses twice
  EXPECT_EQ(sim.criticalPath.rankCrossings, 2);

  ASSERT_EQ(sim.transfers.size(), 4u);
  for (const Transfer &transfer : sim.transfers) {
    if (transfer.payload == Payload::Activation) {
      EXPECT_EQ(transfer.stage, 0);
      EXPECT_EQ(transfer.bytes, 100);
      EXPECT_EQ(transfer.arrived - transfer.sent, 1.5);
    } else {
      EXPECT_EQ(transfer.stage, 1);
      EXPECT_EQ(transfer.bytes, 300);
      EXPECT_EQ(transfer.arrived - transfer.sent, 3.5);
    }
  }
  // 1B1 was sent when it ended, 8.5, and arrived at 12.
  bool found = false;
  for (const Transfer &transfer : sim.transfers)
    if (transfer.payload == Payload::Gradient && transfer.microbatch == 1) {
      found = true;
      EXPECT_EQ(transfer.sent, 8.5);
      EXPECT_EQ(transfer.arrived, 12);
    }
  EXPECT_TRUE(found);
}

// A V-shaped pair of ranks (stages 0 and 3 on rank 0, 1 and 2 on rank 1)
// with one overlapped pair whose halves both wait on rank 1: F(3,1) for
// 2F1, B(0,0) for 1B0. F = 1, B = 2; overlapped 2.75 on stage 0, 2.5 on
// stage 3, so the pair (3F1; 0B0) takes max = 2.75.
//   rank 0: 0F0 [0,1] 0F1 [1,2] 3F0 [4,5] (2F0 at 4) 3B0 [5,7]
//           pair: 2F1 done at 5, 1B0 at 11 -> [11,13.75]
//           3B1 [13.75,15.75]  0B1 waits for 1B1 -> [19.75,21.75]
//   rank 1: 1F0 [1,2] 1F1 [2,3] 2F0 [3,4] 2F1 [4,5] 2B0 (3B0 at 7) [7,9]
//           1B0 [9,11] 2B1 (3B1 at 15.75) [15.75,17.75] 1B1 [17.75,19.75]
TEST(SimulatorTest, OverlapPairWaitsForBothHalvesAndCostsTheSlowerStage) {
  Schedule schedule = makeSchedule(
      4, 2,
      {{F(0, 0), F(0, 1), F(3, 0), B(3, 0), FB(3, 1, 0, 0), B(3, 1), B(0, 1)},
       {F(1, 0), F(1, 1), F(2, 0), F(2, 1), B(2, 0), B(1, 0), B(2, 1),
        B(1, 1)}});
  ASSERT_TRUE(validateSchedule(schedule).empty())
      << messages(validateSchedule(schedule));
  CostModel costs = uniformCosts(4, 1, 1, 1);
  costs.stages[0].overlapped = 2.75;
  costs.stages[3].overlapped = 2.5;
  Simulation sim = simulateOk(schedule, costs);
  EXPECT_EQ(times(sim.ranks[0]), (Spans{{0, 1},
                                        {1, 2},
                                        {4, 5},
                                        {5, 7},
                                        {11, 13.75},
                                        {13.75, 15.75},
                                        {19.75, 21.75}}));
  EXPECT_EQ(times(sim.ranks[1]), (Spans{{1, 2},
                                        {2, 3},
                                        {3, 4},
                                        {4, 5},
                                        {7, 9},
                                        {9, 11},
                                        {15.75, 17.75},
                                        {17.75, 19.75}}));
  EXPECT_EQ(sim.makespan, 21.75);
  EXPECT_EQ(sim.ranks[0].stages, (std::vector<int>{0, 3}));
  EXPECT_EQ(sim.ranks[0].busy, 1 + 1 + 1 + 2 + 2.75 + 2 + 2);
}

// The same schedule with every `overlapped` at its default F + B = 3, but
// the pair's duration given as 2.75 (as a component plan's makespan is):
// the timelines above, worked the same way.
TEST(SimulatorTest, GivenDurationReplacesTheCostModels) {
  Schedule schedule = makeSchedule(
      4, 2,
      {{F(0, 0), F(0, 1), F(3, 0), B(3, 0), FB(3, 1, 0, 0), B(3, 1), B(0, 1)},
       {F(1, 0), F(1, 1), F(2, 0), F(2, 1), B(2, 0), B(1, 0), B(2, 1),
        B(1, 1)}});
  SimulateOptions options;
  options.durations = {
      {std::nullopt, std::nullopt, std::nullopt, std::nullopt, 2.75}, {}};
  SimulateResult result = simulate(schedule, uniformCosts(4, 1, 1, 1), options);
  ASSERT_TRUE(result.simulation) << result.error->message;
  EXPECT_EQ(times(result.simulation->ranks[0])[4], (std::pair{11.0, 13.75}));
  EXPECT_EQ(result.simulation->makespan, 21.75);

  options.durations[0][4] = -1;
  result = simulate(schedule, uniformCosts(4, 1, 1, 1), options);
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->rank, 0);
  EXPECT_EQ(result.error->index, 4);
  EXPECT_EQ(result.error->message, "rank 0 action 4 is given duration -1; "
                                   "durations must be finite and >= 0");
}

TEST(SimulatorTest, OverlapPairDurationIsTheLargerStageFigure) {
  CostModel costs = uniformCosts(4, 1, 1, 1);
  costs.stages[0].overlapped = 2.5;
  costs.stages[3].overlapped = 2.75;
  EXPECT_EQ(durationOf(FB(0, 1, 3, 0), costs), 2.75); // backward's stage
  EXPECT_EQ(durationOf(FB(3, 1, 0, 0), costs), 2.75); // forward's stage
  EXPECT_EQ(durationOf(F(3, 0), costs), 1);
  EXPECT_EQ(durationOf(B(3, 0), costs), 2);
  EXPECT_EQ(durationOf(I(3, 0), costs), 1);
  EXPECT_EQ(durationOf(W(3, 0), costs), 1);
  EXPECT_EQ(durationOf(SendF(0, 0, 1), costs), 0);
}

TEST(SimulatorTest, UniformCostsDeriveBackwardAndPair) {
  CostModel costs = uniformCosts(3, 1.5, 2.0, 0.5);
  ASSERT_EQ(costs.stages.size(), 3u);
  EXPECT_EQ(costs.stages[2].backward, 2.5);
  EXPECT_EQ(costs.stages[2].overlapped, 4.0); // F + B without a figure
  EXPECT_EQ(uniformCosts(1, 1, 1, 1, 2.5).stages[0].overlapped, 2.5);
  EXPECT_EQ(costs.p2pLatency, 0.0);
  EXPECT_FALSE(costs.p2pBandwidth.has_value());
}

// Comm actions are skipped for timing; indices still name positions in the
// schedule as given.
TEST(SimulatorTest, CommActionsAreSkippedButIndexed) {
  Schedule computeOnly = generated(ScheduleKind::DualPipe, 8, 20);
  Schedule withComm = insertCommunication(computeOnly);
  CostModel costs = readmeCosts(computeOnly.numStages);
  costs.p2pLatency = 0.125;
  Simulation plain = simulateOk(computeOnly, costs);
  Simulation comm = simulateOk(withComm, costs);
  EXPECT_EQ(comm.makespan, plain.makespan);
  ASSERT_EQ(comm.ranks.size(), plain.ranks.size());
  for (size_t rank = 0; rank < comm.ranks.size(); ++rank) {
    ASSERT_EQ(times(comm.ranks[rank]), times(plain.ranks[rank]));
    for (const TimedAction &timed : comm.ranks[rank].timeline)
      EXPECT_EQ(withComm.ranks[rank][timed.index], timed.action);
  }
  for (const CriticalStep &step : comm.criticalPath.steps)
    EXPECT_EQ(withComm.ranks[step.rank][step.index], step.action);
}

//===----------------------------------------------------------------------===//
// Closed forms
//===----------------------------------------------------------------------===//

struct Shape {
  int ranks, microbatches;
};
struct Costs {
  double forward, backwardInput, backwardWeight;
};

TEST(SimulatorTest, OneFOneBBubbleIsPpMinusOneTimesFPlusB) {
  for (Shape shape :
       {Shape{2, 2}, Shape{4, 8}, Shape{8, 16}, Shape{8, 32}, Shape{5, 7}}) {
    for (Costs c : {Costs{1, 1, 1}, Costs{1, 2, 1}, Costs{2, 1.5, 0.5}}) {
      SCOPED_TRACE("1f1b " + std::to_string(shape.ranks) + "x" +
                   std::to_string(shape.microbatches) +
                   " F=" + std::to_string(c.forward));
      Simulation sim = simulateOk(
          generated(ScheduleKind::OneFOneB, shape.ranks, shape.microbatches),
          uniformCosts(shape.ranks, c.forward, c.backwardInput,
                       c.backwardWeight));
      double fPlusB = c.forward + c.backwardInput + c.backwardWeight;
      EXPECT_DOUBLE_EQ(sim.makespan,
                       (shape.microbatches + shape.ranks - 1) * fPlusB);
      for (const RankResult &rank : sim.ranks)
        EXPECT_DOUBLE_EQ(rank.bubble, (shape.ranks - 1) * fPlusB);
    }
  }
}

TEST(SimulatorTest, GPipeBubbleIsPpMinusOneTimesFPlusB) {
  for (Shape shape : {Shape{2, 3}, Shape{4, 8}, Shape{8, 4}}) {
    Simulation sim = simulateOk(
        generated(ScheduleKind::GPipe, shape.ranks, shape.microbatches),
        uniformCosts(shape.ranks, 1, 1, 1));
    for (const RankResult &rank : sim.ranks)
      EXPECT_EQ(rank.bubble, (shape.ranks - 1) * 3.0);
  }
}

TEST(SimulatorTest, ZeroBubbleH1BubbleIsPpMinusOneTimesFPlusBMinusTwoW) {
  for (Shape shape :
       {Shape{2, 4}, Shape{4, 8}, Shape{4, 4}, Shape{8, 16}, Shape{8, 24}}) {
    for (double unit : {1.0, 2.0, 0.5}) {
      SCOPED_TRACE("zb-h1 " + std::to_string(shape.ranks) + "x" +
                   std::to_string(shape.microbatches) + " unit " +
                   std::to_string(unit));
      Simulation sim = simulateOk(generated(ScheduleKind::ZeroBubbleH1,
                                            shape.ranks, shape.microbatches),
                                  uniformCosts(shape.ranks, unit, unit, unit));
      double f = unit, b = 2 * unit, w = unit;
      for (const RankResult &rank : sim.ranks) {
        EXPECT_EQ(rank.busy, shape.microbatches * 3 * unit);
        EXPECT_EQ(rank.bubble, (shape.ranks - 1) * (f + b - 2 * w));
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// DualPipe: issue 4's figures
//===----------------------------------------------------------------------===//

/// Busy time of each rank counted from the order's cells under the README
/// costs: F, I, W 1 each, B 2, an overlapped pair 2.5.
std::vector<double> busyByCounting(const Schedule &schedule) {
  std::vector<double> busy;
  for (const std::vector<Action> &actions : schedule.ranks) {
    int f = 0, i = 0, w = 0, b = 0, pairs = 0;
    for (const Action &action : actions) {
      f += action.kind == ActionKind::Forward;
      i += action.kind == ActionKind::BackwardInput;
      w += action.kind == ActionKind::BackwardWeight;
      b += action.kind == ActionKind::Backward;
      pairs += action.kind == ActionKind::OverlapFB;
    }
    busy.push_back(f + i + w + 2.0 * b + 2.5 * pairs);
  }
  return busy;
}

void expectDualPipeFigures(const Schedule &schedule,
                           const std::vector<double> &wantBubbles) {
  CostModel costs = readmeCosts(schedule.numStages);
  for (StageCost &stage : costs.stages)
    stage.activationMemory = 1000;
  Simulation sim = simulateOk(schedule, costs);
  EXPECT_EQ(sim.makespan, 59);
  ASSERT_EQ(sim.ranks.size(), wantBubbles.size());
  std::vector<double> busy = busyByCounting(schedule);
  for (size_t rank = 0; rank < sim.ranks.size(); ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    EXPECT_EQ(sim.ranks[rank].busy, busy[rank]);
    EXPECT_EQ(sim.ranks[rank].bubble, wantBubbles[rank]);
    EXPECT_EQ(sim.ranks[rank].bubble, 59 - busy[rank]);
  }
  // Rank 0 of DualPipe 8x20: 11 F + 7 I + 7 W + 4 B + 9 pairs.
  EXPECT_EQ(busy[0], 11 + 7 + 7 + 4 * 2 + 9 * 2.5);
}

TEST(SimulatorTest, DualPipe8x20MatchesTheIssueFigures) {
  // DeepSeek's reference order, and the generator's.
  CsvParseResult reference = parseTorchCsv(readFixture("dualpipe_r8_mb20.csv"),
                                           /*numDirections=*/2);
  ASSERT_TRUE(reference.schedule.has_value());
  std::vector<double> bubbles{3.5, 4, 4.5, 4.5, 4.5, 4.5, 4, 3.5};
  expectDualPipeFigures(*reference.schedule, bubbles);
  expectDualPipeFigures(generated(ScheduleKind::DualPipe, 8, 20), bubbles);

  Simulation sim = simulateOk(*reference.schedule, readmeCosts(16));
  // The largest bubble is DualPipe's README formula with PP = 8.
  double b = 2, w = 1, fAndB = 2.5, pp = 8;
  double largest = 0;
  for (const RankResult &rank : sim.ranks)
    largest = std::max(largest, rank.bubble);
  EXPECT_EQ(largest, (pp / 2 - 1) * (fAndB + b - 3 * w));
  // PP + 1 live activations on every rank.
  for (const RankResult &rank : sim.ranks)
    EXPECT_EQ(rank.peakActivations.count, 9);
  EXPECT_EQ(sim.parameterCopies(), 2);
  EXPECT_EQ(sim.peakActivationsInModelUnits(), 9);
}

TEST(SimulatorTest, DualPipeActivationBytesAreCountTimesMemory) {
  CostModel costs = readmeCosts(16);
  for (StageCost &stage : costs.stages)
    stage.activationMemory = 1000;
  Simulation sim = simulateOk(generated(ScheduleKind::DualPipe, 8, 20), costs);
  for (const RankResult &rank : sim.ranks)
    EXPECT_EQ(rank.peakActivations.bytes, 9000);
}

TEST(SimulatorTest, DualPipeV4x10MatchesDualPipe8x20) {
  CsvParseResult reference =
      parseTorchCsv(readFixture("dualpipev_r4_mb10.csv"), 1);
  ASSERT_TRUE(reference.schedule.has_value());
  std::vector<double> bubbles{3.5, 4, 4.5, 4.5};
  expectDualPipeFigures(*reference.schedule, bubbles);
  expectDualPipeFigures(generated(ScheduleKind::DualPipeV, 4, 10), bubbles);
  Simulation sim = simulateOk(*reference.schedule, readmeCosts(8));
  EXPECT_EQ(sim.parameterCopies(), 1);
}

//===----------------------------------------------------------------------===//
// Critical path under uneven stages and latency
//===----------------------------------------------------------------------===//

/// 1F1B 4x8 where stage `slow` costs F = 3, I = W = 3 (B = 6) and the others
/// F = I = W = 1 (B = 2).
CostModel slowStageCosts(int slow) {
  CostModel costs = uniformCosts(4, 1, 1, 1);
  costs.stages[slow] = uniformCosts(1, 3, 3, 3).stages[0];
  return costs;
}

// The slow rank never idles once its first forward arrives: every input it
// needs comes from fast neighbours well before it is free. So the makespan
// is mb 0's forwards up to it (1 each), its 8 x (3 + 6) = 72, and mb 7's
// backwards after it (2 each): 72 + 3 * slow, and the critical path is
// exactly that chain: slow F's in, all 16 actions of the slow rank, slow
// B's out.
TEST(SimulatorTest, UnevenStageCarriesTheCriticalPath) {
  for (int slow = 0; slow < 4; ++slow) {
    SCOPED_TRACE("slow stage " + std::to_string(slow));
    Simulation sim = simulateOk(generated(ScheduleKind::OneFOneB, 4, 8),
                                slowStageCosts(slow));
    EXPECT_EQ(sim.makespan, 72 + 3 * slow);

    const std::vector<CriticalStep> &path = sim.criticalPath.steps;
    ASSERT_EQ(path.size(), static_cast<size_t>(16 + 2 * slow));
    for (int i = 0; i < slow; ++i) {
      EXPECT_EQ(path[i].rank, i);
      EXPECT_EQ(path[i].action, F(i, 0));
      EXPECT_EQ(path[path.size() - 1 - i].rank, i);
      EXPECT_EQ(path[path.size() - 1 - i].action, B(i, 7));
    }
    double onSlowRank = 0;
    for (int i = slow; i < slow + 16; ++i) {
      EXPECT_EQ(path[i].rank, slow);
      EXPECT_EQ(path[i].index, i - slow); // every action of the slow rank
      onSlowRank += path[i].end - path[i].start;
    }
    EXPECT_EQ(onSlowRank, 72);
    EXPECT_EQ(sim.criticalPath.rankCrossings, 2 * slow);
    EXPECT_EQ(sim.ranks[slow].bubble, 3 * slow); // only before and after
  }
}

// Stage 2 slow again, now with latency L. Rank 2's first backward needs
// the round trip 2F0 -> 3F0 -> 3B0 -> back, which at L = 0 ends exactly as
// 2F1 does (8) and with L > 0 ends 2L later; everything after it has slack.
// So the path detours through rank 3 and crosses ranks 6 times (0F0 -> 1F0
// -> 2F0 -> 3F0, 3B0 -> 2B0, 2B7 -> 1B7 -> 0B7): the makespan grows by 6L
// from 78. With bytes and bandwidth, the 3 activation crossings cost
// L + 1000/4000 and the 3 gradient crossings L + 2000/4000.
TEST(SimulatorTest, LatencyAddsOncePerCriticalCrossing) {
  Schedule schedule = generated(ScheduleKind::OneFOneB, 4, 8);
  CostModel costs = slowStageCosts(2);
  Simulation base = simulateOk(schedule, costs);
  EXPECT_EQ(base.makespan, 78);
  EXPECT_EQ(base.criticalPath.rankCrossings, 4);

  costs.p2pLatency = 0.25;
  Simulation delayed = simulateOk(schedule, costs);
  EXPECT_EQ(delayed.criticalPath.rankCrossings, 6);
  EXPECT_EQ(delayed.makespan, 78 + 6 * 0.25);
  EXPECT_EQ(delayed.makespan - base.makespan,
            costs.p2pLatency * delayed.criticalPath.rankCrossings);
  std::vector<std::string> detour;
  for (const CriticalStep &step : delayed.criticalPath.steps)
    if (step.rank == 3)
      detour.push_back(step.action.str());
  EXPECT_EQ(detour, (std::vector<std::string>{"3F0", "3B0"}));
  // Rank 2 waits 2 + 2L for 2F0's input, 2L for the round trip, and the
  // 2 + L + 2 + L of the last backwards after it.
  EXPECT_EQ(delayed.ranks[2].bubble,
            (2 + 2 * 0.25) + 2 * 0.25 + (4 + 2 * 0.25));

  costs.p2pBandwidth = 4000;
  for (StageCost &stage : costs.stages) {
    stage.activationBytes = 1000;
    stage.gradientBytes = 2000;
  }
  Simulation sized = simulateOk(schedule, costs);
  EXPECT_EQ(sized.criticalPath.rankCrossings, 6);
  EXPECT_EQ(sized.makespan, 78 + 3 * (0.25 + 0.25) + 3 * (0.25 + 0.5));
}

// The path's defining property, for every kind: each step starts at 0, when
// its rank's previous step ended, or when its input from the previous step's
// rank arrived; so the makespan is the path's work plus L per crossing, and
// latency can only add what the path crosses.
TEST(SimulatorTest, CriticalPathIsAChainOfBindingConstraints) {
  const double latency = 0.125;
  for (ScheduleKind kind :
       {ScheduleKind::GPipe, ScheduleKind::OneFOneB,
        ScheduleKind::Interleaved1F1B, ScheduleKind::ZeroBubbleH1,
        ScheduleKind::ZeroBubbleV, ScheduleKind::DualPipe,
        ScheduleKind::DualPipeV}) {
    SCOPED_TRACE(std::string(scheduleKindName(kind)));
    Schedule schedule = generated(kind, 4, 16);
    CostModel costs = readmeCosts(schedule.numStages);
    costs.stages[1].forward = 1.5; // an uneven stage
    Simulation base = simulateOk(schedule, costs);
    costs.p2pLatency = latency;
    Simulation sim = simulateOk(schedule, costs);

    const std::vector<CriticalStep> &path = sim.criticalPath.steps;
    ASSERT_FALSE(path.empty());
    EXPECT_EQ(path.front().start, 0);
    EXPECT_EQ(path.front().cause, StepCause::Start);
    EXPECT_EQ(path.back().end, sim.makespan);
    double work = 0;
    int crossings = 0;
    for (size_t i = 0; i < path.size(); ++i) {
      EXPECT_EQ(path[i].end - path[i].start, durationOf(path[i].action, costs));
      work += path[i].end - path[i].start;
      if (i == 0)
        continue;
      bool crossed = path[i].rank != path[i - 1].rank;
      EXPECT_EQ(path[i].cause,
                crossed ? StepCause::Transfer : StepCause::SameRank);
      EXPECT_DOUBLE_EQ(path[i].start,
                       path[i - 1].end + (crossed ? latency : 0));
      crossings += crossed;
    }
    EXPECT_EQ(crossings, sim.criticalPath.rankCrossings);
    EXPECT_DOUBLE_EQ(sim.makespan, work + latency * crossings);
    EXPECT_GE(sim.makespan, base.makespan);
    EXPECT_LE(sim.makespan - base.makespan, latency * crossings + 1e-12);
  }
}

//===----------------------------------------------------------------------===//
// Activation memory
//===----------------------------------------------------------------------===//

TEST(ActivationPeaksTest, BackwardFreesAtItsEnd) {
  Schedule schedule = makeSchedule(
      1, 3, {{F(0, 0), F(0, 1), B(0, 0), F(0, 2), B(0, 1), B(0, 2)}});
  std::vector<ActivationPeak> peaks =
      activationPeaks(schedule, uniformCosts(1, 1, 1, 1));
  ASSERT_EQ(peaks.size(), 1u);
  EXPECT_EQ(peaks[0].count, 2); // 0B0 freed before 0F2 allocated
}

TEST(ActivationPeaksTest, SplitBackwardKeepsActivationUntilW) {
  // Freed at I this would peak at 1.
  Schedule schedule = makeSchedule(
      1, 2, {{F(0, 0), I(0, 0), F(0, 1), W(0, 0), I(0, 1), W(0, 1)}});
  EXPECT_EQ(activationPeaks(schedule, uniformCosts(1, 1, 1, 1))[0].count, 2);
}

TEST(ActivationPeaksTest, OverlapPairHoldsBothActivations) {
  // The pair (0F1; 0B0) holds the activation it creates (0F1) and the one
  // it frees (0F0) at once: 2, where counting the pair's net effect says 1.
  Schedule schedule = makeSchedule(1, 2, {{F(0, 0), FB(0, 1, 0, 0), B(0, 1)}});
  EXPECT_EQ(activationPeaks(schedule, uniformCosts(1, 1, 1, 1))[0].count, 2);
}

TEST(ActivationPeaksTest, BytesWeightEachStageByItsMemory) {
  // Rank 0: 0F0 (10), 3F0 (40), 3B0 (10), 0F1 (20), then the pair adds 3F1
  // before freeing 0F0: 3 live, 50 bytes. Rank 1 holds 1F0, 2F0, 1F1, 2F1
  // at once: 2 x 100 + 2 x 1000.
  Schedule schedule = makeSchedule(
      4, 2,
      {{F(0, 0), F(3, 0), B(3, 0), F(0, 1), FB(3, 1, 0, 0), B(3, 1), B(0, 1)},
       {F(1, 0), F(2, 0), F(1, 1), F(2, 1), B(2, 0), B(1, 0), B(2, 1),
        B(1, 1)}});
  CostModel costs = uniformCosts(4, 1, 1, 1);
  costs.stages[0].activationMemory = 10;
  costs.stages[1].activationMemory = 100;
  costs.stages[2].activationMemory = 1000;
  costs.stages[3].activationMemory = 30;
  std::vector<ActivationPeak> peaks = activationPeaks(schedule, costs);
  EXPECT_EQ(peaks[0].count, 3);
  EXPECT_EQ(peaks[0].bytes, 50);
  EXPECT_EQ(peaks[1].count, 4);
  EXPECT_EQ(peaks[1].bytes, 2200);
}

// The README's activation column for R = 8, N = 32, in micro-batches
// through 1/R of the model.
TEST(ActivationPeaksTest, ReadmeTableForEightRanks) {
  struct Row {
    ScheduleKind kind;
    int stagesPerRank;
    double modelUnits;
  };
  for (Row row :
       {Row{ScheduleKind::GPipe, 0, 32}, Row{ScheduleKind::OneFOneB, 0, 8},
        Row{ScheduleKind::Interleaved1F1B, 2, 11.5},
        Row{ScheduleKind::ZeroBubbleH1, 0, 8},
        Row{ScheduleKind::ZeroBubbleV, 0, 8}, Row{ScheduleKind::DualPipe, 0, 9},
        Row{ScheduleKind::DualPipeV, 0, 8.5}}) {
    SCOPED_TRACE(std::string(scheduleKindName(row.kind)));
    Schedule schedule = generated(row.kind, 8, 32, row.stagesPerRank);
    Simulation sim = simulateOk(schedule, readmeCosts(schedule.numStages));
    EXPECT_EQ(sim.peakActivationsInModelUnits(), row.modelUnits);
    EXPECT_EQ(sim.parameterCopies(),
              row.kind == ScheduleKind::DualPipe ? 2 : 1);
  }
  // 1F1B: R - r on rank r; ZB-H1: R on every rank.
  Simulation oneFOneB =
      simulateOk(generated(ScheduleKind::OneFOneB, 8, 32), readmeCosts(8));
  Simulation zbh1 =
      simulateOk(generated(ScheduleKind::ZeroBubbleH1, 8, 32), readmeCosts(8));
  for (int rank = 0; rank < 8; ++rank) {
    EXPECT_EQ(oneFOneB.ranks[rank].peakActivations.count, 8 - rank);
    EXPECT_EQ(zbh1.ranks[rank].peakActivations.count, 8);
  }
}

//===----------------------------------------------------------------------===//
// Errors and edge cases
//===----------------------------------------------------------------------===//

TEST(SimulatorErrorTest, CostModelMustCoverEveryStage) {
  SimulateResult result =
      simulate(twoStageOneFOneB(), uniformCosts(3, 1, 1, 1));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_FALSE(result.simulation.has_value());
  EXPECT_EQ(result.error->message, "cost model has 3 stages, schedule has 2");
  EXPECT_EQ(result.error->rank, -1);
}

TEST(SimulatorErrorTest, CostsMustBeFiniteAndNonNegative) {
  CostModel costs = uniformCosts(2, 1, 1, 1);
  costs.stages[1].backward = -1;
  SimulateResult result = simulate(twoStageOneFOneB(), costs);
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->message,
            "stage 1 has cost -1; costs must be finite and >= 0");

  costs = uniformCosts(2, 1, 1, 1);
  costs.stages[0].forward = std::nan("");
  EXPECT_TRUE(simulate(twoStageOneFOneB(), costs).error.has_value());

  costs = uniformCosts(2, 1, 1, 1);
  costs.p2pBandwidth = 0.0;
  result = simulate(twoStageOneFOneB(), costs);
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->message,
            "p2p bandwidth 0 is not a finite positive rate");

  costs = uniformCosts(2, 1, 1, 1);
  costs.p2pLatency = -0.5;
  EXPECT_TRUE(simulate(twoStageOneFOneB(), costs).error.has_value());
}

TEST(SimulatorErrorTest, OutOfRangeActionIsLocated) {
  Schedule schedule = twoStageOneFOneB();
  schedule.ranks[1][2] = F(1, 5);
  SimulateResult result = simulate(schedule, uniformCosts(2, 1, 1, 1));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->rank, 1);
  EXPECT_EQ(result.error->index, 2);
  EXPECT_TRUE(contains(result.error->message, "1F5"));
}

TEST(SimulatorErrorTest, OrderThatCannotRunNamesEveryStuckRank) {
  // Rank 0 runs 0B0 before 0F1; rank 1 needs 0F1 for 1F1 before 1B0.
  Schedule schedule = makeSchedule(2, 2,
                                   {{F(0, 0), B(0, 0), F(0, 1), B(0, 1)},
                                    {F(1, 0), F(1, 1), B(1, 0), B(1, 1)}});
  ASSERT_TRUE(checkDeadlock(schedule).deadlocked);
  SimulateResult result = simulate(schedule, uniformCosts(2, 1, 1, 1));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->rank, 0);
  EXPECT_EQ(result.error->index, 1);
  EXPECT_TRUE(contains(result.error->message,
                       "rank 0 waits at action 1 (0B0) for the gradient of "
                       "stage 1 micro-batch 0, made by rank 1 action 2 (1B0)"));
  EXPECT_TRUE(contains(result.error->message,
                       "rank 1 waits at action 1 (1F1) for the activation of "
                       "stage 0 micro-batch 1, made by rank 0 action 2 (0F1)"));
}

TEST(SimulatorErrorTest, MissingProducerIsNamed) {
  Schedule schedule = makeSchedule(2, 1, {{B(0, 0)}, {F(1, 0), B(1, 0)}});
  SimulateResult result = simulate(schedule, uniformCosts(2, 1, 1, 1));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_TRUE(contains(result.error->message, "which no action makes"));
}

TEST(SimulatorTest, EmptyAndIdleRanks) {
  Simulation empty = simulateOk(makeSchedule(0, 0, {}), CostModel());
  EXPECT_EQ(empty.makespan, 0);
  EXPECT_TRUE(empty.criticalPath.steps.empty());
  EXPECT_EQ(empty.bubbleRatio, 0);

  // A rank with nothing to do idles for the whole makespan.
  Simulation idle = simulateOk(makeSchedule(1, 1, {{F(0, 0), B(0, 0)}, {}}),
                               uniformCosts(1, 1, 1, 1));
  EXPECT_EQ(idle.makespan, 3);
  EXPECT_EQ(idle.ranks[1].bubble, 3);
  EXPECT_EQ(idle.ranks[1].bubbleRatio, 1);
  EXPECT_DOUBLE_EQ(idle.bubbleRatio, 0.5);
}

} // namespace
