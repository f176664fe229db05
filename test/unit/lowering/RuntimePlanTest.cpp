//===- RuntimePlanTest.cpp - schedule -> runtime operations ---------------===//

#include "passes/Lowering/RuntimePlan.h"

#include <gtest/gtest.h>

#include <array>

using namespace pipeweave;
using namespace pipeweave::lower;
using namespace pipeweave::schedule;

namespace {

CostModel costsWithKernels(int stages) {
  CostModel costs;
  costs.stages.resize(stages);
  for (StageCost &stage : costs.stages) {
    stage.activationBytes = 100;
    stage.gradientBytes = 50;
    stage.activationMemory = 1000;
    stage.kernels.forward = "f";
    stage.kernels.backward = "b";
  }
  return costs;
}

std::string slot(const Slot &s) {
  return std::to_string(s.offset) + "+" + std::to_string(s.bytes);
}

/// One line per op, e.g. "compute launch forward f 1/0 input=0+100".
std::vector<std::string> describe(const RankProgram &program) {
  std::vector<std::string> lines;
  for (const RuntimeOp &op : program.ops) {
    std::string line = std::string(streamName(op.stream)) + " ";
    switch (op.kind) {
    case RuntimeOp::LaunchKernel:
      line += std::string("launch ") + launchKindName(op.launch.kind) + " " +
              op.launch.kernel + " " + std::to_string(op.launch.stage) + "/" +
              std::to_string(op.launch.microbatch);
      for (const KernelBuffer &buffer : op.launch.buffers)
        line += std::string(" ") + bufferRoleName(buffer.role) + "=" +
                slot(buffer.slot);
      break;
    case RuntimeOp::TransferGroup:
      line += "group";
      for (const Transfer &t : op.transfers)
        line += std::string(t.isSend ? " send " : " recv ") +
                (t.payload == Payload::Activation ? "act " : "grad ") +
                std::to_string(t.stage) + "/" + std::to_string(t.microbatch) +
                (t.isSend ? " to " : " from ") + std::to_string(t.peer) + " " +
                slot(t.slot);
      break;
    case RuntimeOp::RecordEvent:
      line += "record e" + std::to_string(op.event);
      break;
    case RuntimeOp::WaitEvent:
      line += "wait e" + std::to_string(op.event);
      break;
    }
    lines.push_back(line);
  }
  return lines;
}

// 1F1B, 2 ranks x 2 micro-batches, rank 1 (the last stage): the buffer
// offsets, the cross-stream dependencies (read after write across streams,
// and a slot reused after the other stream's last use) and the minimal set
// of events were worked out by hand. The last input gradient goes where
// received activation 1 was (compute read it last), not where input
// gradient 0 was (a send read it last).
TEST(RuntimePlanTest, OneFOneBLastRankByHand) {
  Schedule schedule =
      insertCommunication(generateSchedule({ScheduleKind::OneFOneB, 2, 2, 0}));
  RuntimeProgram program;
  ASSERT_FALSE(lowerToRuntime(schedule, costsWithKernels(2), program));
  std::vector<std::string> expected = {
      "comm group recv act 1/0 from 0 0+100",
      "comm record e0",
      "compute wait e0",
      "compute launch forward f 1/0 input=0+100 saved=100+1000",
      "compute launch backward b 1/0 saved=100+1000 grad_input=0+50",
      "compute record e1",
      "comm wait e1",
      "comm group send grad 1/0 to 0 0+50 recv act 1/1 from 0 50+100",
      "comm record e2",
      "compute wait e2",
      "compute launch forward f 1/1 input=50+100 saved=150+1000",
      "compute launch backward b 1/1 saved=150+1000 grad_input=50+50",
      "compute record e3",
      "comm wait e3",
      "comm group send grad 1/1 to 0 50+50",
  };
  EXPECT_EQ(describe(program.ranks[1]), expected);
  EXPECT_EQ(program.ranks[1].poolBytes, 1150);
  EXPECT_EQ(program.ranks[1].numEvents, 4);
  EXPECT_EQ(program.kernels, (std::vector<std::string>{"b", "f"}));
}

TEST(RuntimePlanTest, SplitBackwardWithoutFusedKernelUsesInputThenWeight) {
  Schedule schedule = generateSchedule({ScheduleKind::GPipe, 1, 1, 0});
  CostModel costs = costsWithKernels(1);
  costs.stages[0].kernels.backward.clear();
  costs.stages[0].kernels.backwardInput = "bi";
  costs.stages[0].kernels.backwardWeight = "bw";
  costs.stages[0].kernels.loss = "mse";
  RuntimeProgram program;
  ASSERT_FALSE(lowerToRuntime(schedule, costs, program));
  // One stage, first and last: the loss kernel runs after the forward and
  // writes the output gradient that both backward halves read.
  std::vector<std::string> lines = describe(program.ranks[0]);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].rfind("compute launch forward f 0/0 saved=", 0), 0u)
      << lines[0];
  EXPECT_EQ(lines[1].rfind("compute launch loss mse 0/0 input=", 0), 0u);
  EXPECT_NE(lines[1].find(" grad_output="), std::string::npos);
  EXPECT_EQ(lines[2].rfind("compute launch backward_input bi 0/0", 0), 0u);
  EXPECT_EQ(lines[3].rfind("compute launch backward_weight bw 0/0", 0), 0u);
}

TEST(RuntimePlanTest, MissingKernelNamesStageAndRole) {
  Schedule schedule = generateSchedule({ScheduleKind::OneFOneB, 2, 2, 0});
  CostModel costs = costsWithKernels(2);
  costs.stages[1].kernels.forward.clear();
  RuntimeProgram program;
  std::optional<LoweringError> error =
      lowerToRuntime(insertCommunication(schedule), costs, program);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->stage, 1);
  EXPECT_NE(error->message.find("stage 1 has no forward kernel"),
            std::string::npos)
      << error->message;
}

/// Slots an op reads and writes, from the roles' meaning.
void accessesOf(const RuntimeOp &op, std::vector<Slot> &reads,
                std::vector<Slot> &writes) {
  if (op.kind == RuntimeOp::TransferGroup) {
    for (const Transfer &t : op.transfers)
      (t.isSend ? reads : writes).push_back(t.slot);
    return;
  }
  if (op.kind != RuntimeOp::LaunchKernel)
    return;
  bool isForward = op.launch.kind == LaunchKind::Forward ||
                   op.launch.kind == LaunchKind::Loss;
  for (const KernelBuffer &buffer : op.launch.buffers) {
    bool written = isForward ? buffer.role != BufferRole::Input
                             : buffer.role == BufferRole::GradInput;
    (written ? writes : reads).push_back(buffer.slot);
  }
}

bool overlaps(const Slot &a, const Slot &b) {
  return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

// An independent hazard check: vector clocks over the two streams give
// happens-before from program order, records and waits; every access that
// conflicts with an earlier access on the other stream (read after write,
// write after read or write to overlapping bytes) must happen after it.
TEST(RuntimePlanTest, NoCrossStreamHazards) {
  for (ScheduleKind kind :
       {ScheduleKind::GPipe, ScheduleKind::OneFOneB, ScheduleKind::ZeroBubbleH1,
        ScheduleKind::ZeroBubbleV, ScheduleKind::DualPipe,
        ScheduleKind::DualPipeV}) {
    Schedule schedule = insertCommunication(generateSchedule({kind, 4, 8, 0}));
    CostModel costs = costsWithKernels(schedule.numStages);
    for (StageCost &stage : costs.stages) {
      stage.kernels.backwardInput = "bi";
      stage.kernels.backwardWeight = "bw";
      // Unequal sizes so that slots are reused across kinds of tensor.
      stage.activationBytes = 96 + 32 * (&stage - &costs.stages[0]) % 3;
    }
    RuntimeProgram program;
    ASSERT_FALSE(lowerToRuntime(schedule, costs, program));
    for (const RankProgram &rank : program.ranks) {
      struct Done {
        int stream, seq;
        std::vector<Slot> reads, writes;
      };
      std::vector<Done> done;
      std::array<std::array<int, 2>, 2> clock{}; // per stream: seen seqs
      std::vector<std::array<int, 2>> eventClock(rank.numEvents);
      std::array<int, 2> seq{0, 0};
      for (const RuntimeOp &op : rank.ops) {
        int s = op.stream;
        if (op.kind == RuntimeOp::RecordEvent) {
          eventClock[op.event] = clock[s];
          continue;
        }
        if (op.kind == RuntimeOp::WaitEvent) {
          for (int t = 0; t < 2; ++t)
            clock[s][t] = std::max(clock[s][t], eventClock[op.event][t]);
          continue;
        }
        Done current{s, ++seq[s], {}, {}};
        clock[s][s] = current.seq;
        accessesOf(op, current.reads, current.writes);
        for (const Done &earlier : done) {
          if (earlier.stream == s)
            continue;
          bool conflict = false;
          for (const Slot &w : earlier.writes) {
            for (const Slot &r : current.reads)
              conflict |= overlaps(w, r) && w.bytes && r.bytes;
            for (const Slot &w2 : current.writes)
              conflict |= overlaps(w, w2) && w.bytes && w2.bytes;
          }
          for (const Slot &r : earlier.reads)
            for (const Slot &w : current.writes)
              conflict |= overlaps(r, w) && r.bytes && w.bytes;
          if (conflict)
            EXPECT_GE(clock[s][earlier.stream], earlier.seq)
                << scheduleKindName(kind) << ": " << streamName(s) << " op "
                << current.seq << " races with " << streamName(earlier.stream)
                << " op " << earlier.seq;
        }
        done.push_back(std::move(current));
      }
    }
  }
}

} // namespace
