//===- BufferPlanTest.cpp - static buffer plan ----------------------------===//

#include "passes/BufferPlan/BufferPlan.h"
#include "passes/Simulate/Simulator.h"

#include <gtest/gtest.h>

using namespace pipeweave::plan;
using namespace pipeweave::schedule;

namespace {

CostModel uniformCosts(int stages, int64_t activation, int64_t gradient,
                       int64_t memory) {
  CostModel costs;
  costs.stages.resize(stages);
  for (StageCost &stage : costs.stages) {
    stage.activationBytes = activation;
    stage.gradientBytes = gradient;
    stage.activationMemory = memory;
  }
  return costs;
}

Schedule generate(ScheduleKind kind, int ranks, int microbatches) {
  return generateSchedule({kind, ranks, microbatches, 0});
}

struct Expected {
  BufferKind kind;
  int stage, mb;
  int64_t bytes;
  int first, last;
};

// 1F1B on 2 ranks x 2 micro-batches with communication; rank 0 runs
// F0 SEND_F0 F1 SEND_F1 RECV_B0 B0 RECV_B1 B1 (indices 0..7), where
// SEND_F1 and RECV_B0 form one group (posted together, so activation 1 lives
// to its end and gradient 0 from its start). Lifetimes and the best-fit
// offsets below are worked out by hand.
TEST(BufferPlanTest, OneFOneBRankZeroByHand) {
  Schedule schedule =
      insertCommunication(generate(ScheduleKind::OneFOneB, 2, 2));
  ASSERT_EQ(schedule.ranks[0].size(), 8u);
  RankPlan plan =
      planBuffers(schedule, uniformCosts(2, 100, 50, 1000)).ranks[0];

  std::vector<Expected> expected = {
      {BufferKind::Saved, 0, 0, 1000, 0, 5},
      {BufferKind::Activation, 0, 0, 100, 0, 1},
      {BufferKind::Saved, 0, 1, 1000, 2, 7},
      {BufferKind::Activation, 0, 1, 100, 2, 4},
      {BufferKind::OutputGradient, 0, 0, 50, 3, 5},
      {BufferKind::OutputGradient, 0, 1, 50, 6, 7},
  };
  ASSERT_EQ(plan.buffers.size(), expected.size());
  for (const Expected &e : expected) {
    int index = findBuffer(plan, e.kind, e.stage, e.mb);
    ASSERT_GE(index, 0) << bufferKindName(e.kind) << " " << e.mb;
    const Buffer &buffer = plan.buffers[index];
    EXPECT_EQ(buffer.bytes, e.bytes);
    EXPECT_EQ(buffer.first, e.first) << bufferKindName(e.kind) << e.mb;
    EXPECT_EQ(buffer.last, e.last) << bufferKindName(e.kind) << e.mb;
  }
  // Live at index 3: both saved activations, activation 1 and gradient 0.
  EXPECT_EQ(plan.peakLiveBytes, 2150);
  EXPECT_EQ(plan.poolBytes, 2150);
  EXPECT_EQ(plan.peakSavedCount, 2);
  EXPECT_EQ(plan.peakSavedBytes, 2000);
  // Best fit: activation 0 goes above saved 0; saved 1 reuses the range
  // activation 0 freed and grows the pool; gradient 0 grows it again;
  // gradient 1 takes gradient 0's bytes rather than the smaller range that
  // activation 1 left, because a send read those last.
  auto offsetOf = [&](BufferKind kind, int mb) {
    return plan.buffers[findBuffer(plan, kind, 0, mb)].offset;
  };
  EXPECT_EQ(offsetOf(BufferKind::Saved, 0), 0);
  EXPECT_EQ(offsetOf(BufferKind::Activation, 0), 1000);
  EXPECT_EQ(offsetOf(BufferKind::Saved, 1), 1000);
  EXPECT_EQ(offsetOf(BufferKind::Activation, 1), 2000);
  EXPECT_EQ(offsetOf(BufferKind::OutputGradient, 0), 2100);
  EXPECT_EQ(offsetOf(BufferKind::OutputGradient, 1), 2100);
}

// The last rank receives activations and sends input gradients.
TEST(BufferPlanTest, LastRankReceivesAndSendsGradients) {
  Schedule schedule =
      insertCommunication(generate(ScheduleKind::OneFOneB, 2, 2));
  RankPlan plan =
      planBuffers(schedule, uniformCosts(2, 100, 50, 1000)).ranks[1];
  // RECV_F0 F0 B0 SEND_B0 RECV_F1 F1 B1 SEND_B1; SEND_B0 and RECV_F1 are one
  // group.
  int received = findBuffer(plan, BufferKind::ReceivedActivation, 1, 0);
  ASSERT_GE(received, 0);
  EXPECT_EQ(plan.buffers[received].first, 0);
  EXPECT_EQ(plan.buffers[received].last, 1);
  EXPECT_EQ(plan.buffers[received].bytes, 100);
  int gradient = findBuffer(plan, BufferKind::InputGradient, 1, 1);
  ASSERT_GE(gradient, 0);
  EXPECT_EQ(plan.buffers[gradient].first, 6);
  EXPECT_EQ(plan.buffers[gradient].last, 7);
  EXPECT_EQ(plan.buffers[gradient].bytes, 50);
  // The last stage keeps no activation for a next stage.
  EXPECT_EQ(findBuffer(plan, BufferKind::Activation, 1, 0), -1);
}

// Overlapping buffers never share bytes, on every kind and many sizes.
TEST(BufferPlanTest, LiveBuffersNeverOverlapInMemory) {
  for (ScheduleKind kind :
       {ScheduleKind::GPipe, ScheduleKind::OneFOneB, ScheduleKind::ZeroBubbleH1,
        ScheduleKind::ZeroBubbleV, ScheduleKind::DualPipe,
        ScheduleKind::DualPipeV}) {
    for (int ranks : {2, 4}) {
      int mbs = 2 * ranks + 2;
      Schedule schedule = insertCommunication(generate(kind, ranks, mbs));
      BufferPlan plan = planBuffers(
          schedule, uniformCosts(schedule.numStages, 300, 200, 700));
      for (const RankPlan &rank : plan.ranks) {
        for (size_t a = 0; a < rank.buffers.size(); ++a)
          for (size_t b = a + 1; b < rank.buffers.size(); ++b) {
            const Buffer &x = rank.buffers[a], &y = rank.buffers[b];
            bool timeOverlap = x.first <= y.last && y.first <= x.last;
            bool memoryOverlap =
                x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
            EXPECT_FALSE(timeOverlap && memoryOverlap)
                << scheduleKindName(kind) << " R=" << ranks;
          }
        EXPECT_GE(rank.poolBytes, rank.peakLiveBytes);
      }
    }
  }
}

// With one size for every buffer the plan needs no more than the peak.
TEST(BufferPlanTest, UniformSizesReachThePeak) {
  for (ScheduleKind kind :
       {ScheduleKind::GPipe, ScheduleKind::OneFOneB, ScheduleKind::ZeroBubbleH1,
        ScheduleKind::ZeroBubbleV, ScheduleKind::DualPipe,
        ScheduleKind::DualPipeV}) {
    Schedule schedule = insertCommunication(generate(kind, 4, 10));
    BufferPlan plan =
        planBuffers(schedule, uniformCosts(schedule.numStages, 64, 64, 64));
    for (const RankPlan &rank : plan.ranks)
      EXPECT_EQ(rank.poolBytes, rank.peakLiveBytes) << scheduleKindName(kind);
  }
}

// 1F1B keeps min(N, R - r) activations on rank r (Megatron's bound).
TEST(BufferPlanTest, OneFOneBSavedPeakIsRanksMinusRank) {
  for (int ranks = 1; ranks <= 8; ++ranks)
    for (int mbs = ranks; mbs <= 2 * ranks + 1; ++mbs) {
      Schedule schedule = generate(ScheduleKind::OneFOneB, ranks, mbs);
      BufferPlan plan = planBuffers(schedule, uniformCosts(ranks, 1, 1, 10));
      for (int rank = 0; rank < ranks; ++rank) {
        EXPECT_EQ(plan.ranks[rank].peakSavedCount, std::min(mbs, ranks - rank));
        EXPECT_EQ(plan.ranks[rank].peakSavedBytes,
                  10 * std::min(mbs, ranks - rank));
      }
    }
}

} // namespace

namespace {
// The plan's saved-activation peak is the simulator's activation peak, per
// rank, for every kind: both count an activation from the start of its F to
// the end of its B (or W), and the plan's pool holds at least that plus the
// message buffers.
TEST(BufferPlanTest, SavedPeakEqualsSimulatedActivationPeak) {
  for (ScheduleKind kind :
       {ScheduleKind::GPipe, ScheduleKind::OneFOneB,
        ScheduleKind::Interleaved1F1B, ScheduleKind::ZeroBubbleH1,
        ScheduleKind::ZeroBubbleV, ScheduleKind::DualPipe,
        ScheduleKind::DualPipeV}) {
    int stagesPerRank = kind == ScheduleKind::Interleaved1F1B ? 2 : 0;
    Schedule schedule =
        insertCommunication(generateSchedule({kind, 4, 8, stagesPerRank}));
    CostModel costs = uniformCosts(schedule.numStages, 100, 50, 1000);
    BufferPlan plan = planBuffers(schedule, costs);
    std::vector<pipeweave::simulate::ActivationPeak> simulated =
        pipeweave::simulate::activationPeaks(schedule, costs);
    ASSERT_EQ(simulated.size(), plan.ranks.size());
    for (size_t rank = 0; rank < plan.ranks.size(); ++rank) {
      EXPECT_EQ(plan.ranks[rank].peakSavedCount, simulated[rank].count)
          << scheduleKindName(kind) << " rank " << rank;
      EXPECT_EQ(plan.ranks[rank].peakSavedBytes, simulated[rank].bytes)
          << scheduleKindName(kind) << " rank " << rank;
      EXPECT_GE(plan.ranks[rank].poolBytes, simulated[rank].bytes);
    }
  }
}
} // namespace
