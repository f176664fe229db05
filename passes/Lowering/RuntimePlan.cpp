//===- RuntimePlan.cpp - What each rank issues to the runtime -------------===//

#include "passes/Lowering/RuntimePlan.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <map>
#include <set>
#include <span>

using namespace pipeweave;
using namespace pipeweave::lower;
using plan::BufferKind;
using schedule::Action;
using schedule::ActionKind;
using schedule::Payload;

const char *pipeweave::lower::streamName(int stream) {
  return stream == ComputeStream ? "compute" : "comm";
}

const char *pipeweave::lower::launchKindName(LaunchKind kind) {
  switch (kind) {
  case LaunchKind::Forward:
    return "forward";
  case LaunchKind::BackwardInput:
    return "backward_input";
  case LaunchKind::BackwardWeight:
    return "backward_weight";
  case LaunchKind::Backward:
    return "backward";
  case LaunchKind::Loss:
    return "loss";
  }
  return "?";
}

const char *pipeweave::lower::bufferRoleName(BufferRole role) {
  switch (role) {
  case BufferRole::Input:
    return "input";
  case BufferRole::Output:
    return "output";
  case BufferRole::Saved:
    return "saved";
  case BufferRole::GradOutput:
    return "grad_output";
  case BufferRole::GradInput:
    return "grad_input";
  }
  return "?";
}

namespace {
constexpr int kNumStreams = 2;
constexpr int kNone = -1;

struct Access {
  int buffer;
  bool write;
};

/// An op before events are added; the buffers it touches are
/// accesses[firstAccess, endAccess) of its rank.
struct PendingOp {
  RuntimeOp op;
  int action = 0;     // index in the rank's action list (a group's first)
  int lastAction = 0; // a group's last action
  int firstAccess = 0;
  int endAccess = 0;
};

/// A buffer a launch names: its role, its index in the plan (kNone for
/// none) and whether the kernel writes it.
struct RoleBuffer {
  BufferRole role;
  int index;
  bool write;
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
      : schedule(schedule), costs(costs), plan(plan), rank(rank),
        localStages(stageRanks.size(), false),
        bufferIndex(stagesOf(stageRanks, rank), schedule.numStages,
                    schedule.numMicrobatches) {
    for (int stage = 0; stage < static_cast<int>(stageRanks.size()); ++stage)
      localStages[stage] = stageRanks[stage] == rank;
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const plan::Buffer &b = plan.buffers[i];
      bufferIndex.at(b.kind, b.stage, b.microbatch) = static_cast<int>(i);
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
  static std::vector<int> stagesOf(const std::vector<int> &stageRanks,
                                   int rank) {
    std::vector<int> stages;
    for (int stage = 0; stage < static_cast<int>(stageRanks.size()); ++stage)
      if (stageRanks[stage] == rank)
        stages.push_back(stage);
    return stages;
  }

  int buffer(BufferKind kind, int stage, int mb) const {
    return bufferIndex.find(kind, stage, mb);
  }

  Slot slotOf(int index) const {
    const plan::Buffer &b = plan.buffers[index];
    return Slot{b.offset, b.bytes};
  }

  bool isLocal(int stage) const { return localStages[stage]; }

  /// Adds `kind` of `stage` as a launch reading/writing the given roles.
  std::optional<LoweringError> launch(int action, LaunchKind kind,
                                      const std::string &kernel, int stage,
                                      int mb,
                                      std::initializer_list<RoleBuffer> roles,
                                      const RoleBuffer *extra = nullptr) {
    if (kernel.empty()) {
      std::string name = launchKindName(kind);
      return LoweringError{
          stage, "stage " + std::to_string(stage) + " has no " + name +
                     " kernel; name one with `pipe.kernels " + name +
                     " = \"...\"` (for all stages, or in `pipe.stage " +
                     std::to_string(stage) + " { ... }`)"};
    }
    PendingOp &pending = ops.emplace_back();
    pending.op.kind = RuntimeOp::LaunchKernel;
    pending.op.stream = ComputeStream;
    pending.op.launch.kind = kind;
    pending.op.launch.kernel = kernel;
    pending.op.launch.stage = stage;
    pending.op.launch.microbatch = mb;
    pending.op.launch.buffers.reserve(roles.size() + (extra ? 1 : 0));
    pending.action = pending.lastAction = action;
    pending.firstAccess = accesses.size();
    auto add = [&](const RoleBuffer &buffer) {
      if (buffer.index == kNone)
        return;
      pending.op.launch.buffers.push_back({buffer.role, slotOf(buffer.index)});
      accesses.push_back({buffer.index, buffer.write});
    };
    for (const RoleBuffer &buffer : roles)
      add(buffer);
    if (extra)
      add(*extra);
    pending.endAccess = accesses.size();
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
    if (auto error = launch(
            action, LaunchKind::Forward, kernels.forward, stage, mb,
            {{BufferRole::Input, input, false},
             {BufferRole::Saved, buffer(BufferKind::Saved, stage, mb), true},
             {BufferRole::Output, output, true}}))
      return error;
    if (schedule.nextStage(stage) < 0 && !kernels.loss.empty())
      return launch(action, LaunchKind::Loss, kernels.loss, stage, mb,
                    {{BufferRole::Input, output, false},
                     {BufferRole::GradOutput,
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
    RoleBuffer saved{BufferRole::Saved, buffer(BufferKind::Saved, stage, mb),
                     false};
    RoleBuffer gradOutput{BufferRole::GradOutput,
                          buffer(BufferKind::OutputGradient, stage, mb), false};
    RoleBuffer written{BufferRole::GradInput, gradInput, true};

    switch (kind) {
    case ActionKind::BackwardInput:
      return launch(action, LaunchKind::BackwardInput, kernels.backwardInput,
                    stage, mb, {saved, gradOutput}, &written);
    case ActionKind::BackwardWeight:
      return launch(action, LaunchKind::BackwardWeight, kernels.backwardWeight,
                    stage, mb, {saved, gradOutput});
    default:
      if (!kernels.backward.empty() ||
          (kernels.backwardInput.empty() && kernels.backwardWeight.empty()))
        return launch(action, LaunchKind::Backward, kernels.backward, stage, mb,
                      {saved, gradOutput}, &written);
      // B = I + W when the stage has no fused backward kernel.
      if (auto error =
              launch(action, LaunchKind::BackwardInput, kernels.backwardInput,
                     stage, mb, {saved, gradOutput}, &written))
        return error;
      return launch(action, LaunchKind::BackwardWeight, kernels.backwardWeight,
                    stage, mb, {saved, gradOutput});
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
      PendingOp &group = ops.emplace_back();
      group.op.kind = RuntimeOp::TransferGroup;
      group.op.stream = CommStream;
      group.action = action;
      group.firstAccess = group.endAccess = accesses.size();
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
    if (index != kNone) {
      accesses.push_back({index, !isSend});
      group.endAccess = accesses.size();
    }
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
    // With two streams an op waits for at most the one other stream.
    std::vector<std::array<int, kNumStreams>> waitsBefore(
        ops.size(), std::array<int, kNumStreams>{kNone, kNone});
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
      auto opAccesses = std::span(accesses).subspan(
          pending.firstAccess, pending.endAccess - pending.firstAccess);
      for (const Access &access : opAccesses) {
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
        waitsBefore[opIndex][other] = needed[other];
        recordAfter[needed[other]] = true;
      }
      for (const Access &access : opAccesses) {
        if (access.write) {
          lastWriter[access.buffer] = opIndex;
          allocated[access.buffer] = true;
        }
        lastAccess[access.buffer][stream] = opIndex;
      }
    }

    std::vector<int> eventOf(ops.size(), kNone);
    size_t numOps = ops.size();
    for (int opIndex = 0; opIndex < static_cast<int>(ops.size()); ++opIndex)
      numOps += (waitsBefore[opIndex][0] != kNone) +
                (waitsBefore[opIndex][1] != kNone) + recordAfter[opIndex];
    result.ops.reserve(numOps);
    for (int opIndex = 0; opIndex < static_cast<int>(ops.size()); ++opIndex) {
      for (int waited : waitsBefore[opIndex]) {
        if (waited == kNone)
          continue;
        RuntimeOp &wait = result.ops.emplace_back();
        wait.kind = RuntimeOp::WaitEvent;
        wait.stream = ops[opIndex].op.stream;
        wait.event = eventOf[waited];
      }
      result.ops.push_back(std::move(ops[opIndex].op));
      if (recordAfter[opIndex]) {
        eventOf[opIndex] = result.numEvents++;
        int stream = result.ops.back().stream;
        RuntimeOp &record = result.ops.emplace_back();
        record.kind = RuntimeOp::RecordEvent;
        record.stream = stream;
        record.event = eventOf[opIndex];
      }
    }
  }

  const schedule::Schedule &schedule;
  const schedule::CostModel &costs;
  const plan::RankPlan &plan;
  int rank;
  plan::BufferIndex bufferIndex;
  std::vector<bool> localStages;
  std::vector<PendingOp> ops;
  std::vector<Access> accesses; // of all ops, in op order
};
} // namespace

RuntimeLowering::RuntimeLowering(const schedule::Schedule &schedule,
                                 const schedule::CostModel &costs)
    : schedule(schedule), costs(costs), stageRanks(schedule.stageRanks()) {}

std::optional<LoweringError> RuntimeLowering::lowerRank(int rank,
                                                        RankProgram &result) {
  plan::RankPlan plan =
      plan::planRankBuffers(schedule, costs, rank, stageRanks);
  result = RankProgram();
  return RankLowering(schedule, costs, plan, rank, stageRanks).run(result);
}

std::optional<LoweringError>
pipeweave::lower::lowerToRuntime(const schedule::Schedule &schedule,
                                 const schedule::CostModel &costs,
                                 RuntimeProgram &result) {
  RuntimeLowering lowering(schedule, costs);
  result = RuntimeProgram();
  std::set<std::string> kernels;
  for (int rank = 0; rank < schedule.numRanks; ++rank) {
    RankProgram program;
    if (std::optional<LoweringError> error = lowering.lowerRank(rank, program))
      return error;
    // A program launches few kernels, many times each.
    std::vector<const std::string *> seen;
    for (const RuntimeOp &op : program.ops)
      if (op.kind == RuntimeOp::LaunchKernel &&
          std::none_of(seen.begin(), seen.end(), [&](const std::string *name) {
            return *name == op.launch.kernel;
          })) {
        seen.push_back(&op.launch.kernel);
        kernels.insert(op.launch.kernel);
      }
    result.ranks.push_back(std::move(program));
  }
  result.kernels.assign(kernels.begin(), kernels.end());
  return std::nullopt;
}
