//===- RuntimePlan.cpp - What each rank issues to the runtime -------------===//

#include "passes/Lowering/RuntimePlan.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
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
               const schedule::CostModel &costs, plan::RankPlan plan, int rank,
               const std::vector<int> &stageRanks, const PairPlans *pairPlans)
      : schedule(schedule), costs(costs), plan(std::move(plan)), rank(rank),
        pairPlans(pairPlans), localStages(stageRanks.size(), false),
        bufferIndex(stagesOf(stageRanks, rank), schedule.numStages,
                    schedule.numMicrobatches) {
    for (int stage = 0; stage < static_cast<int>(stageRanks.size()); ++stage)
      localStages[stage] = stageRanks[stage] == rank;
    for (size_t i = 0; i < this->plan.buffers.size(); ++i) {
      const plan::Buffer &b = this->plan.buffers[i];
      bufferIndex.at(b.kind, b.stage, b.microbatch) = static_cast<int>(i);
    }
    layOutComponentSlots();
  }

  std::optional<LoweringError> run(RankProgram &result) {
    if (std::optional<LoweringError> error = collectOps())
      return error;
    result.poolBytes = plan.poolBytes;
    addEvents(result);
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
      auto hasComponents = [&](int stage) {
        return costs.stages[stage].hasComponents();
      };
      switch (action.kind) {
      case ActionKind::Forward:
        error = hasComponents(action.stage)
                    ? componentForward(i, action.stage, action.microbatch)
                    : forward(i, action.stage, action.microbatch);
        break;
      case ActionKind::OverlapFB:
        if (pairPlans && i < static_cast<int>(pairPlans->size()) &&
            !(*pairPlans)[i].empty() && hasComponents(action.stage) &&
            hasComponents(action.stage2)) {
          error = plannedPair(i, action, (*pairPlans)[i]);
          break;
        }
        error = hasComponents(action.stage)
                    ? componentForward(i, action.stage, action.microbatch)
                    : forward(i, action.stage, action.microbatch);
        if (!error)
          error = hasComponents(action.stage2)
                      ? componentBackward(i, ActionKind::Backward,
                                          action.stage2, action.microbatch2)
                      : backward(i, ActionKind::Backward, action.stage2,
                                 action.microbatch2);
        break;
      case ActionKind::Backward:
      case ActionKind::BackwardInput:
      case ActionKind::BackwardWeight:
        error = hasComponents(action.stage)
                    ? componentBackward(i, action.kind, action.stage,
                                        action.microbatch)
                    : backward(i, action.kind, action.stage, action.microbatch);
        break;
      case ActionKind::Send:
      case ActionKind::Recv:
        transfer(i, action);
        break;
      }
      if (error) {
        if (error->action < 0)
          error->action = i;
        return error;
      }
    }
    return std::nullopt;
  }

  //===--------------------------------------------------------------------===//
  // Component chains
  //===--------------------------------------------------------------------===//

  /// One item of a chain: component index in the stage's list and layer.
  struct ChainItem {
    int component;
    int layer;
  };

  /// A chain of one action: its items (W items are off the chain), whether
  /// it is the forward chain, and its input and output buffers.
  struct Chain {
    std::vector<ChainItem> items;
    bool forward = true;
    int stage = 0, mb = 0;
    int input = kNone, output = kNone;
    int action = 0;
  };

  /// Per local stage with components, the offsets (from the component
  /// region's start) of each all-to-all component's send and receive slot
  /// in one chain, and the bytes of one chain's slots.
  struct StageSlots {
    std::vector<int64_t> sendOffset, recvOffset, bytes;
    int64_t chainBytes = 0;
  };

  static int64_t align64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

  /// The forward chain's slots follow the planned pool, then the backward
  /// chain's; every action reuses them (the events order the reuse).
  void layOutComponentSlots() {
    stageSlots.resize(costs.stages.size());
    int64_t chainBytes = 0;
    for (int stage = 0; stage < static_cast<int>(costs.stages.size());
         ++stage) {
      const schedule::StageCost &cost = costs.stages[stage];
      if (!isLocal(stage) || !cost.hasComponents())
        continue;
      StageSlots &slots = stageSlots[stage];
      size_t n = cost.components.size();
      slots.sendOffset.assign(n, 0);
      slots.recvOffset.assign(n, 0);
      slots.bytes.assign(n, 0);
      int64_t at = 0;
      for (size_t c = 0; c < n; ++c) {
        const schedule::Component &component = cost.components[c];
        if (component.isCompute())
          continue;
        slots.bytes[c] = 8 * static_cast<int64_t>(costs.expertParallel) +
                         component.rows * component.rowBytes;
        slots.sendOffset[c] = at;
        at = align64(at + slots.bytes[c]);
        slots.recvOffset[c] = at;
        at = align64(at + slots.bytes[c]);
      }
      slots.chainBytes = at;
      chainBytes = std::max(chainBytes, at);
    }
    componentRegion = align64(plan.poolBytes);
    backwardRegion = componentRegion + chainBytes;
    if (chainBytes > 0)
      plan.poolBytes = backwardRegion + chainBytes;
  }

  /// The buffer of an all-to-all component's send or receive slot in
  /// `chain`, made on first use.
  int componentSlot(const Chain &chain, int component, bool send) {
    auto key = std::make_tuple(chain.action, chain.forward, component, send);
    auto [it, inserted] = componentSlots.try_emplace(key, kNone);
    if (!inserted)
      return it->second;
    const StageSlots &slots = stageSlots[chain.stage];
    plan::Buffer buffer;
    buffer.stage = chain.stage;
    buffer.microbatch = chain.mb;
    buffer.bytes = slots.bytes[component];
    buffer.first = buffer.last = chain.action;
    buffer.offset =
        (chain.forward ? componentRegion : backwardRegion) +
        (send ? slots.sendOffset[component] : slots.recvOffset[component]);
    it->second = static_cast<int>(plan.buffers.size());
    plan.buffers.push_back(buffer);
    return it->second;
  }

  /// A located error unless the stage's layer can be lowered: it starts
  /// and ends with a compute component and its all-to-alls are sized.
  std::optional<LoweringError> checkLayer(int stage) {
    const std::vector<schedule::Component> &components =
        costs.stages[stage].components;
    auto computeAt = [&](const schedule::Component &c,
                         const char *where) -> std::optional<LoweringError> {
      if (c.isCompute())
        return std::nullopt;
      return LoweringError{
          stage,
          "stage " + std::to_string(stage) + "'s layer " + where +
              " with the all-to-all '" + c.name +
              "'; to be lowered, a layer must start and end with a compute "
              "component (whose kernels read and write the stage's "
              "activations)"};
    };
    if (auto error = computeAt(components.front(), "starts"))
      return error;
    if (auto error = computeAt(components.back(), "ends"))
      return error;
    for (const schedule::Component &c : components) {
      if (c.isCompute()) {
        if (c.kernels.forward.empty() || c.kernels.backwardInput.empty())
          return LoweringError{
              stage,
              "component '" + c.name + "' of stage " + std::to_string(stage) +
                  " needs forward and backward_input kernels to be lowered; "
                  "name them with `kernels forward = \"...\", "
                  "backward_input = \"...\"`"};
        continue;
      }
      if (c.rows <= 0 || c.rowBytes <= 0)
        return LoweringError{
            stage,
            "all_to_all component '" + c.name + "' of stage " +
                std::to_string(stage) +
                " needs `row_bytes` and `rows` (the size of its buffers) to "
                "be lowered"};
    }
    return std::nullopt;
  }

  Chain forwardChain(int action, int stage, int mb) {
    Chain chain;
    chain.action = action;
    chain.stage = stage;
    chain.mb = mb;
    const schedule::StageCost &cost = costs.stages[stage];
    for (int l = 0; l < cost.layers; ++l)
      for (int c = 0; c < static_cast<int>(cost.components.size()); ++c)
        chain.items.push_back({c, l});
    int prev = schedule.prevStage(stage);
    chain.input = prev < 0 ? kNone
                  : isLocal(prev)
                      ? buffer(BufferKind::Activation, prev, mb)
                      : buffer(BufferKind::ReceivedActivation, stage, mb);
    chain.output = buffer(BufferKind::Activation, stage, mb);
    return chain;
  }

  Chain backwardChain(int action, int stage, int mb) {
    Chain chain;
    chain.action = action;
    chain.forward = false;
    chain.stage = stage;
    chain.mb = mb;
    const schedule::StageCost &cost = costs.stages[stage];
    for (int l = cost.layers - 1; l >= 0; --l)
      for (int c = static_cast<int>(cost.components.size()) - 1; c >= 0; --c)
        chain.items.push_back({c, l});
    int prev = schedule.prevStage(stage);
    chain.input = buffer(BufferKind::OutputGradient, stage, mb);
    chain.output = prev < 0 ? kNone
                   : isLocal(prev)
                       ? buffer(BufferKind::OutputGradient, prev, mb)
                       : buffer(BufferKind::InputGradient, stage, mb);
    return chain;
  }

  /// Emits chain item `position`: a launch (F or I) or an all-to-all.
  std::optional<LoweringError> chainItem(Chain &chain, int position) {
    const schedule::StageCost &cost = costs.stages[chain.stage];
    auto isAllToAll = [&](int at) {
      return !cost.components[chain.items[at].component].isCompute();
    };
    const ChainItem &item = chain.items[position];
    const schedule::Component &component = cost.components[item.component];
    if (!component.isCompute()) {
      PendingOp &pending = ops.emplace_back();
      pending.op.kind = RuntimeOp::AllToAllExchange;
      pending.op.stream = CommStream;
      AllToAll &exchange = pending.op.allToAll;
      exchange.component = component.name;
      exchange.forward = chain.forward;
      exchange.stage = chain.stage;
      exchange.microbatch = chain.mb;
      exchange.layer = item.layer;
      exchange.rowBytes = component.rowBytes;
      int send = componentSlot(chain, item.component, true);
      int recv = componentSlot(chain, item.component, false);
      exchange.send = slotOf(send);
      exchange.recv = slotOf(recv);
      pending.action = pending.lastAction = chain.action;
      pending.firstAccess = accesses.size();
      accesses.push_back({send, false});
      accesses.push_back({recv, true});
      pending.endAccess = accesses.size();
      return std::nullopt;
    }
    int last = static_cast<int>(chain.items.size()) - 1;
    int input =
        position == 0 ? chain.input
        : isAllToAll(position - 1)
            ? componentSlot(chain, chain.items[position - 1].component, false)
            : kNone;
    int output =
        position == last ? chain.output
        : isAllToAll(position + 1)
            ? componentSlot(chain, chain.items[position + 1].component, true)
            : kNone;
    std::optional<LoweringError> error =
        chain.forward
            ? launch(chain.action, LaunchKind::Forward,
                     component.kernels.forward, chain.stage, chain.mb,
                     {{BufferRole::Input, input, false},
                      {BufferRole::Output, output, true}})
            : launch(chain.action, LaunchKind::BackwardInput,
                     component.kernels.backwardInput, chain.stage, chain.mb,
                     {{BufferRole::GradOutput, input, false},
                      {BufferRole::GradInput, output, true}});
    if (error)
      return error;
    ops.back().op.launch.layer = item.layer;
    if (chain.forward && position == last)
      return loss(chain.action, chain.stage, chain.mb);
    return std::nullopt;
  }

  /// The W item of a compute component's layer; nothing without a kernel.
  void weightItem(int action, int stage, int mb, int component, int layer) {
    const std::string &kernel =
        costs.stages[stage].components[component].kernels.backwardWeight;
    if (kernel.empty())
      return;
    (void)launch(action, LaunchKind::BackwardWeight, kernel, stage, mb, {});
    ops.back().op.launch.layer = layer;
  }

  /// The loss kernel after a last stage's forward, when it has one.
  std::optional<LoweringError> loss(int action, int stage, int mb) {
    const schedule::StageKernels &kernels = costs.stages[stage].kernels;
    if (schedule.nextStage(stage) >= 0 || kernels.loss.empty())
      return std::nullopt;
    return launch(
        action, LaunchKind::Loss, kernels.loss, stage, mb,
        {{BufferRole::Input, buffer(BufferKind::Activation, stage, mb), false},
         {BufferRole::GradOutput, buffer(BufferKind::OutputGradient, stage, mb),
          true}});
  }

  std::optional<LoweringError> componentForward(int action, int stage, int mb) {
    if (auto error = checkLayer(stage))
      return error;
    Chain chain = forwardChain(action, stage, mb);
    for (int i = 0; i < static_cast<int>(chain.items.size()); ++i)
      if (auto error = chainItem(chain, i))
        return error;
    return std::nullopt;
  }

  std::optional<LoweringError> componentBackward(int action, ActionKind kind,
                                                 int stage, int mb) {
    if (auto error = checkLayer(stage))
      return error;
    Chain chain = backwardChain(action, stage, mb);
    const schedule::StageCost &cost = costs.stages[stage];
    for (int i = 0; i < static_cast<int>(chain.items.size()); ++i) {
      const ChainItem &item = chain.items[i];
      bool compute = cost.components[item.component].isCompute();
      if (kind != ActionKind::BackwardWeight)
        if (auto error = chainItem(chain, i))
          return error;
      if (compute && kind != ActionKind::BackwardInput)
        weightItem(action, stage, mb, item.component, item.layer);
    }
    return std::nullopt;
  }

  /// An overlapped pair in the order of its plan.
  std::optional<LoweringError>
  plannedPair(int action, const Action &pair,
              const std::vector<ComponentItem> &items) {
    if (auto error = checkLayer(pair.stage))
      return error;
    if (auto error = checkLayer(pair.stage2))
      return error;
    Chain chains[] = {forwardChain(action, pair.stage, pair.microbatch),
                      backwardChain(action, pair.stage2, pair.microbatch2)};
    for (const ComponentItem &item : items) {
      bool isForward = item.phase == ComponentPhase::Forward;
      Chain &chain = chains[isForward ? 0 : 1];
      const schedule::StageCost &cost = costs.stages[chain.stage];
      auto found = std::find_if(cost.components.begin(), cost.components.end(),
                                [&](const schedule::Component &c) {
                                  return c.name == item.component;
                                });
      if (found == cost.components.end() || item.layer < 0 ||
          item.layer >= cost.layers)
        return LoweringError{chain.stage,
                             "the plan of " + pair.str() + " names '" +
                                 item.component + "' layer " +
                                 std::to_string(item.layer) + ", which stage " +
                                 std::to_string(chain.stage) + " does not have",
                             action};
      int component = static_cast<int>(found - cost.components.begin());
      if (item.phase == ComponentPhase::BackwardWeight) {
        weightItem(action, chain.stage, chain.mb, component, item.layer);
        continue;
      }
      auto at = std::find_if(
          chain.items.begin(), chain.items.end(), [&](const ChainItem &c) {
            return c.component == component && c.layer == item.layer;
          });
      if (auto error =
              chainItem(chain, static_cast<int>(at - chain.items.begin())))
        return error;
      // The plan puts every item on its component's stream.
      ops.back().op.stream = item.stream;
      if (ops.back().op.launch.kind == LaunchKind::Loss && ops.size() >= 2)
        ops[ops.size() - 2].op.stream = item.stream;
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
        // Writing what the other stream still reads (a chain's slot reused
        // by its next layer) waits for that read.
        if (access.write)
          for (int s = 0; s < kNumStreams; ++s)
            if (s != stream)
              needed[s] = std::max(needed[s], lastAccess[access.buffer][s]);
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
  plan::RankPlan plan;
  int rank;
  const PairPlans *pairPlans;
  std::vector<StageSlots> stageSlots;
  int64_t componentRegion = 0, backwardRegion = 0;
  std::map<std::tuple<int, bool, int, bool>, int> componentSlots;
  plan::BufferIndex bufferIndex;
  std::vector<bool> localStages;
  std::vector<PendingOp> ops;
  std::vector<Access> accesses; // of all ops, in op order
};
} // namespace

RuntimeLowering::RuntimeLowering(const schedule::Schedule &schedule,
                                 const schedule::CostModel &costs)
    : schedule(schedule), costs(costs), stageRanks(schedule.stageRanks()) {}

std::optional<LoweringError>
RuntimeLowering::lowerRank(int rank, RankProgram &result,
                           const PairPlans *pairPlans) {
  plan::RankPlan plan =
      plan::planRankBuffers(schedule, costs, rank, stageRanks);
  result = RankProgram();
  return RankLowering(schedule, costs, std::move(plan), rank, stageRanks,
                      pairPlans)
      .run(result);
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
