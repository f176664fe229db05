//===- RuntimePlan.cpp - What each rank issues to the runtime -------------===//

#include "passes/Lowering/RuntimePlan.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <tuple>

using namespace pipeweave;
using namespace pipeweave::lower;
using plan::BufferKind;
using schedule::Action;
using schedule::ActionKind;
using schedule::Payload;

const char *pipeweave::lower::streamName(int stream) {
  return stream == ComputeStream ? "compute" : "comm";
}

namespace {
constexpr int kNumStreams = 2;
constexpr int kNone = -1;

struct Access {
  int buffer;
  bool write;
};

/// An op before events are added, with the buffers it touches.
struct PendingOp {
  RuntimeOp op;
  int action = 0;     // index in the rank's action list (a group's first)
  int lastAction = 0; // a group's last action
  std::vector<Access> accesses;
};

/// Per byte range of the pool, the last op of each stream that touched a
/// buffer that used to live there.
class PoolHistory {
public:
  struct Info {
    int64_t end = 0;
    std::array<int, kNumStreams> lastAccess{kNone, kNone};
  };

  /// Records that [start, end) was last used as `lastAccess` says; ops of
  /// earlier occupants stay covered by the per-stream maximum.
  void release(int64_t start, int64_t end,
               const std::array<int, kNumStreams> &lastAccess) {
    if (start >= end)
      return;
    split(start);
    split(end);
    std::array<int, kNumStreams> merged = lastAccess;
    for (auto it = segments.lower_bound(start);
         it != segments.end() && it->first < end;) {
      for (int s = 0; s < kNumStreams; ++s)
        merged[s] = std::max(merged[s], it->second.lastAccess[s]);
      it = segments.erase(it);
    }
    segments[start] = Info{end, merged};
  }

  /// The latest op of each stream that touched any byte of [start, end).
  std::array<int, kNumStreams> query(int64_t start, int64_t end) const {
    std::array<int, kNumStreams> result{kNone, kNone};
    auto it = segments.upper_bound(start);
    if (it != segments.begin())
      --it;
    for (; it != segments.end() && it->first < end; ++it) {
      if (it->second.end <= start)
        continue;
      for (int s = 0; s < kNumStreams; ++s)
        result[s] = std::max(result[s], it->second.lastAccess[s]);
    }
    return result;
  }

private:
  /// Makes `at` a segment boundary.
  void split(int64_t at) {
    auto it = segments.upper_bound(at);
    if (it == segments.begin())
      return;
    --it;
    if (it->first < at && at < it->second.end) {
      Info tail = it->second;
      it->second.end = at;
      segments[at] = tail;
    }
  }

  std::map<int64_t, Info> segments;
};

class RankLowering {
public:
  RankLowering(const schedule::Schedule &schedule,
               const schedule::CostModel &costs, const plan::RankPlan &plan,
               int rank, const std::vector<int> &stageRanks)
      : schedule(schedule), costs(costs), plan(plan), rank(rank) {
    for (int stage = 0; stage < static_cast<int>(stageRanks.size()); ++stage)
      if (stageRanks[stage] == rank)
        localStages.insert(stage);
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const plan::Buffer &b = plan.buffers[i];
      bufferIndex[{b.kind, b.stage, b.microbatch}] = static_cast<int>(i);
    }
  }

  std::optional<LoweringError> run(RankProgram &result) {
    if (std::optional<LoweringError> error = collectOps())
      return error;
    addEvents(result);
    result.poolBytes = plan.poolBytes;
    return std::nullopt;
  }

private:
  int buffer(BufferKind kind, int stage, int mb) const {
    auto it = bufferIndex.find({kind, stage, mb});
    return it == bufferIndex.end() ? kNone : it->second;
  }

  Slot slotOf(int index) const {
    const plan::Buffer &b = plan.buffers[index];
    return Slot{b.offset, b.bytes};
  }

  bool isLocal(int stage) const { return localStages.count(stage) != 0; }

  /// Adds `kind` of `stage` as a launch reading/writing the given roles.
  std::optional<LoweringError>
  launch(int action, const std::string &kind, const std::string &kernel,
         int stage, int mb,
         const std::vector<std::tuple<std::string, int, bool>> &roles) {
    if (kernel.empty())
      return LoweringError{
          stage, "stage " + std::to_string(stage) + " has no " + kind +
                     " kernel; name one with `pipe.kernels " + kind +
                     " = \"...\"` (for all stages, or in `pipe.stage " +
                     std::to_string(stage) + " { ... }`)"};
    PendingOp pending;
    pending.op.kind = RuntimeOp::LaunchKernel;
    pending.op.stream = ComputeStream;
    pending.op.launch = Launch{kind, kernel, stage, mb, {}};
    pending.action = pending.lastAction = action;
    for (const auto &[role, index, write] : roles) {
      if (index == kNone)
        continue;
      pending.op.launch.buffers.push_back({role, slotOf(index)});
      pending.accesses.push_back({index, write});
    }
    ops.push_back(std::move(pending));
    return std::nullopt;
  }

  std::optional<LoweringError> forward(int action, int stage, int mb) {
    const schedule::StageKernels &kernels = costs.stages[stage].kernels;
    int prev = schedule.prevStage(stage);
    int input = prev < 0 ? kNone
                : isLocal(prev)
                    ? buffer(BufferKind::Activation, prev, mb)
                    : buffer(BufferKind::ReceivedActivation, stage, mb);
    int output = buffer(BufferKind::Activation, stage, mb);
    if (auto error =
            launch(action, "forward", kernels.forward, stage, mb,
                   {{"input", input, false},
                    {"saved", buffer(BufferKind::Saved, stage, mb), true},
                    {"output", output, true}}))
      return error;
    if (schedule.nextStage(stage) < 0 && !kernels.loss.empty())
      return launch(action, "loss", kernels.loss, stage, mb,
                    {{"input", output, false},
                     {"grad_output",
                      buffer(BufferKind::OutputGradient, stage, mb), true}});
    return std::nullopt;
  }

  /// B, I or W of (stage, mb): their buffers differ only in what they write.
  std::optional<LoweringError> backward(int action, ActionKind kind, int stage,
                                        int mb) {
    const schedule::StageKernels &kernels = costs.stages[stage].kernels;
    int prev = schedule.prevStage(stage);
    int gradInput = prev < 0 ? kNone
                    : isLocal(prev)
                        ? buffer(BufferKind::OutputGradient, prev, mb)
                        : buffer(BufferKind::InputGradient, stage, mb);
    std::vector<std::tuple<std::string, int, bool>> reads = {
        {"saved", buffer(BufferKind::Saved, stage, mb), false},
        {"grad_output", buffer(BufferKind::OutputGradient, stage, mb), false}};
    auto withGradInput = reads;
    withGradInput.emplace_back("grad_input", gradInput, true);

    switch (kind) {
    case ActionKind::BackwardInput:
      return launch(action, "backward_input", kernels.backwardInput, stage, mb,
                    withGradInput);
    case ActionKind::BackwardWeight:
      return launch(action, "backward_weight", kernels.backwardWeight, stage,
                    mb, reads);
    default:
      if (!kernels.backward.empty() ||
          (kernels.backwardInput.empty() && kernels.backwardWeight.empty()))
        return launch(action, "backward", kernels.backward, stage, mb,
                      withGradInput);
      // B = I + W when the stage has no fused backward kernel.
      if (auto error = launch(action, "backward_input", kernels.backwardInput,
                              stage, mb, withGradInput))
        return error;
      return launch(action, "backward_weight", kernels.backwardWeight, stage,
                    mb, reads);
    }
  }

  std::optional<LoweringError> collectOps() {
    const std::vector<Action> &actions = schedule.ranks[rank];
    for (int i = 0; i < static_cast<int>(actions.size()); ++i) {
      const Action &action = actions[i];
      std::optional<LoweringError> error;
      switch (action.kind) {
      case ActionKind::Forward:
        error = forward(i, action.stage, action.microbatch);
        break;
      case ActionKind::OverlapFB:
        error = forward(i, action.stage, action.microbatch);
        if (!error)
          error = backward(i, ActionKind::Backward, action.stage2,
                           action.microbatch2);
        break;
      case ActionKind::Backward:
      case ActionKind::BackwardInput:
      case ActionKind::BackwardWeight:
        error = backward(i, action.kind, action.stage, action.microbatch);
        break;
      case ActionKind::Send:
      case ActionKind::Recv:
        transfer(i, action);
        break;
      }
      if (error)
        return error;
    }
    return std::nullopt;
  }

  void transfer(int action, const Action &comm) {
    bool isSend = comm.kind == ActionKind::Send;
    bool activation = comm.payload == Payload::Activation;
    BufferKind kind = isSend ? (activation ? BufferKind::Activation
                                           : BufferKind::InputGradient)
                             : (activation ? BufferKind::ReceivedActivation
                                           : BufferKind::OutputGradient);
    int index = buffer(kind, comm.stage, comm.microbatch);
    // Consecutive send/recv actions form one group.
    bool continuesGroup = !ops.empty() &&
                          ops.back().op.kind == RuntimeOp::TransferGroup &&
                          ops.back().lastAction == action - 1;
    if (!continuesGroup) {
      PendingOp group;
      group.op.kind = RuntimeOp::TransferGroup;
      group.op.stream = CommStream;
      group.action = action;
      ops.push_back(std::move(group));
    }
    PendingOp &group = ops.back();
    group.lastAction = action;
    // The producer is the local stage of a send, the stage across the
    // boundary of a receive.
    int producer = isSend       ? comm.stage
                   : activation ? schedule.prevStage(comm.stage)
                                : schedule.nextStage(comm.stage);
    int tag =
        2 * (producer * schedule.microbatchesPerStage() + comm.microbatch) +
        (activation ? 0 : 1);
    group.op.transfers.push_back(
        Transfer{isSend, comm.payload, comm.stage, comm.microbatch, comm.peer,
                 index == kNone ? Slot{} : slotOf(index), tag});
    if (index != kNone)
      group.accesses.push_back({index, !isSend});
  }

  /// Adds the waits each op needs and the records they wait for.
  void addEvents(RankProgram &result) {
    int numBuffers = plan.buffers.size();
    std::vector<int> lastWriter(numBuffers, kNone);
    std::vector<std::array<int, kNumStreams>> lastAccess(
        numBuffers, std::array<int, kNumStreams>{kNone, kNone});
    std::vector<bool> allocated(numBuffers, false);
    // Buffers by last use, to release their bytes once past it.
    std::vector<int> byLast(numBuffers);
    for (int i = 0; i < numBuffers; ++i)
      byLast[i] = i;
    std::sort(byLast.begin(), byLast.end(), [&](int a, int b) {
      return plan.buffers[a].last < plan.buffers[b].last;
    });
    size_t nextRelease = 0;
    PoolHistory history;

    std::array<std::array<int, kNumStreams>, kNumStreams> waitedUpTo;
    for (auto &row : waitedUpTo)
      row.fill(kNone);
    std::vector<std::vector<int>> waitsBefore(ops.size());
    std::vector<bool> recordAfter(ops.size(), false);

    for (int opIndex = 0; opIndex < static_cast<int>(ops.size()); ++opIndex) {
      PendingOp &pending = ops[opIndex];
      int stream = pending.op.stream;
      while (nextRelease < byLast.size() &&
             plan.buffers[byLast[nextRelease]].last < pending.action) {
        const plan::Buffer &b = plan.buffers[byLast[nextRelease]];
        history.release(b.offset, b.offset + b.bytes,
                        lastAccess[byLast[nextRelease]]);
        ++nextRelease;
      }

      std::array<int, kNumStreams> needed{kNone, kNone};
      for (const Access &access : pending.accesses) {
        if (lastWriter[access.buffer] != kNone)
          needed[ops[lastWriter[access.buffer]].op.stream] =
              std::max(needed[ops[lastWriter[access.buffer]].op.stream],
                       lastWriter[access.buffer]);
        if (access.write && !allocated[access.buffer]) {
          const plan::Buffer &b = plan.buffers[access.buffer];
          std::array<int, kNumStreams> previous =
              history.query(b.offset, b.offset + b.bytes);
          for (int s = 0; s < kNumStreams; ++s)
            needed[s] = std::max(needed[s], previous[s]);
        }
      }
      for (int other = 0; other < kNumStreams; ++other) {
        if (other == stream || needed[other] <= waitedUpTo[stream][other])
          continue;
        waitedUpTo[stream][other] = needed[other];
        waitsBefore[opIndex].push_back(needed[other]);
        recordAfter[needed[other]] = true;
      }
      for (const Access &access : pending.accesses) {
        if (access.write) {
          lastWriter[access.buffer] = opIndex;
          allocated[access.buffer] = true;
        }
        lastAccess[access.buffer][stream] = opIndex;
      }
    }

    std::vector<int> eventOf(ops.size(), kNone);
    for (int opIndex = 0; opIndex < static_cast<int>(ops.size()); ++opIndex) {
      for (int waited : waitsBefore[opIndex]) {
        RuntimeOp wait{RuntimeOp::WaitEvent,
                       ops[opIndex].op.stream,
                       {},
                       {},
                       eventOf[waited]};
        result.ops.push_back(wait);
      }
      result.ops.push_back(std::move(ops[opIndex].op));
      if (recordAfter[opIndex]) {
        eventOf[opIndex] = result.numEvents++;
        RuntimeOp record{RuntimeOp::RecordEvent,
                         result.ops.back().stream,
                         {},
                         {},
                         eventOf[opIndex]};
        result.ops.push_back(record);
      }
    }
  }

  const schedule::Schedule &schedule;
  const schedule::CostModel &costs;
  const plan::RankPlan &plan;
  int rank;
  std::map<std::tuple<BufferKind, int, int>, int> bufferIndex;
  std::set<int> localStages;
  std::vector<PendingOp> ops;
};
} // namespace

std::optional<LoweringError>
pipeweave::lower::lowerToRuntime(const schedule::Schedule &schedule,
                                 const schedule::CostModel &costs,
                                 RuntimeProgram &result) {
  plan::BufferPlan buffers = plan::planBuffers(schedule, costs);
  std::vector<int> stageRanks = schedule.stageRanks();
  result = RuntimeProgram();
  std::set<std::string> kernels;
  for (int rank = 0; rank < schedule.numRanks; ++rank) {
    RankProgram program;
    if (std::optional<LoweringError> error =
            RankLowering(schedule, costs, buffers.ranks[rank], rank, stageRanks)
                .run(program))
      return error;
    for (const RuntimeOp &op : program.ops)
      if (op.kind == RuntimeOp::LaunchKernel)
        kernels.insert(op.launch.kernel);
    result.ranks.push_back(std::move(program));
  }
  result.kernels.assign(kernels.begin(), kernels.end());
  return std::nullopt;
}
