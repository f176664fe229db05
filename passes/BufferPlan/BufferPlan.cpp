//===- BufferPlan.cpp - Static buffer plan of a schedule ------------------===//

#include "passes/BufferPlan/BufferPlan.h"

#include <algorithm>
#include <map>
#include <tuple>

using namespace pipeweave::plan;
using namespace pipeweave::schedule;

std::string_view pipeweave::plan::bufferKindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Activation:
    return "activation";
  case BufferKind::ReceivedActivation:
    return "received_activation";
  case BufferKind::Saved:
    return "saved";
  case BufferKind::OutputGradient:
    return "output_gradient";
  case BufferKind::InputGradient:
    return "input_gradient";
  }
  return "unknown";
}

namespace {
/// Collects one rank's buffers and their lifetimes while walking its
/// actions in order.
class RankLifetimes {
public:
  RankLifetimes(const Schedule &schedule, const CostModel &costs, int rank,
                const std::vector<int> &rankOfStage)
      : schedule(schedule), costs(costs), rank(rank), rankOfStage(rankOfStage) {
  }

  std::vector<Buffer> run() {
    const std::vector<Action> &actions = schedule.ranks[rank];
    // A group of consecutive send/recv actions is posted at once: its
    // receives may write from the group's first action on and its sends
    // read until its last.
    int count = actions.size();
    groupStart.assign(count, 0);
    groupEnd.assign(count, 0);
    for (int index = 0; index < count; ++index)
      groupStart[index] =
          index > 0 && actions[index].isComm() && actions[index - 1].isComm()
              ? groupStart[index - 1]
              : index;
    for (int index = count - 1; index >= 0; --index)
      groupEnd[index] = index + 1 < count && actions[index].isComm() &&
                                actions[index + 1].isComm()
                            ? groupEnd[index + 1]
                            : index;
    for (int index = 0; index < count; ++index) {
      const Action &action = actions[index];
      switch (action.kind) {
      case ActionKind::Forward:
        forward(action.stage, action.microbatch, index);
        break;
      case ActionKind::BackwardInput:
      case ActionKind::Backward:
        backward(action.stage, action.microbatch, index);
        break;
      case ActionKind::BackwardWeight:
        weight(action.stage, action.microbatch, index);
        break;
      case ActionKind::OverlapFB:
        forward(action.stage, action.microbatch, index);
        backward(action.stage2, action.microbatch2, index);
        break;
      case ActionKind::Send: {
        BufferKind kind = action.payload == Payload::Activation
                              ? BufferKind::Activation
                              : BufferKind::InputGradient;
        use(kind, action.stage, action.microbatch, groupEnd[index]);
        buffers[indexOf[std::make_tuple(kind, action.stage, action.microbatch)]]
            .sent = true;
        break;
      }
      case ActionKind::Recv:
        define(action.payload == Payload::Activation
                   ? BufferKind::ReceivedActivation
                   : BufferKind::OutputGradient,
               action.stage, action.microbatch, groupStart[index]);
        break;
      }
    }
    return std::move(buffers);
  }

private:
  /// A last stage whose loss runs as its own kernel right after F.
  bool hasLoss(int stage) const {
    return schedule.nextStage(stage) < 0 && !costs.stages.empty() &&
           !costs.stages[stage].kernels.loss.empty();
  }
  bool hasOutputGradient(int stage) const {
    return schedule.nextStage(stage) >= 0 || hasLoss(stage);
  }

  bool isLocal(int stage) const {
    return stage >= 0 && rankOfStage[stage] == rank;
  }

  int64_t activationBytes(int stage) const {
    return costs.stages.empty() ? 0 : costs.stages[stage].activationBytes;
  }
  int64_t gradientBytes(int stage) const {
    return costs.stages.empty() ? 0 : costs.stages[stage].gradientBytes;
  }

  int64_t sizeOf(BufferKind kind, int stage) const {
    switch (kind) {
    case BufferKind::Activation:
      return activationBytes(stage);
    case BufferKind::ReceivedActivation:
      return activationBytes(schedule.prevStage(stage));
    case BufferKind::Saved:
      return costs.stages.empty() ? 0 : costs.stages[stage].activationMemory;
    case BufferKind::OutputGradient:
      // The loss gradient has the shape of the stage's own output.
      return hasLoss(stage) ? activationBytes(stage)
                            : gradientBytes(schedule.nextStage(stage));
    case BufferKind::InputGradient:
      return gradientBytes(stage);
    }
    return 0;
  }

  /// The buffer is written at `index` (created if it is new).
  void define(BufferKind kind, int stage, int mb, int index) {
    auto [it, inserted] =
        indexOf.try_emplace(std::make_tuple(kind, stage, mb), buffers.size());
    if (inserted) {
      Buffer buffer;
      buffer.kind = kind;
      buffer.stage = stage;
      buffer.microbatch = mb;
      buffer.bytes = sizeOf(kind, stage);
      buffer.first = buffer.last = index;
      buffers.push_back(buffer);
    }
  }

  /// The buffer is read at `index`; a tensor that arrives without a recv
  /// action (compute-only schedules) is taken to arrive just before.
  void use(BufferKind kind, int stage, int mb, int index) {
    define(kind, stage, mb, index);
    Buffer &buffer = buffers[indexOf[std::make_tuple(kind, stage, mb)]];
    buffer.last = std::max(buffer.last, index);
  }

  void forward(int stage, int mb, int index) {
    int prev = schedule.prevStage(stage);
    if (prev >= 0)
      use(isLocal(prev) ? BufferKind::Activation
                        : BufferKind::ReceivedActivation,
          isLocal(prev) ? prev : stage, mb, index);
    define(BufferKind::Saved, stage, mb, index);
    if (schedule.nextStage(stage) >= 0 || hasLoss(stage))
      define(BufferKind::Activation, stage, mb, index);
    if (hasLoss(stage))
      define(BufferKind::OutputGradient, stage, mb, index);
  }

  void backward(int stage, int mb, int index) {
    use(BufferKind::Saved, stage, mb, index);
    if (hasOutputGradient(stage))
      use(BufferKind::OutputGradient, stage, mb, index);
    int prev = schedule.prevStage(stage);
    if (prev >= 0) {
      if (isLocal(prev))
        define(BufferKind::OutputGradient, prev, mb, index);
      else
        define(BufferKind::InputGradient, stage, mb, index);
    }
  }

  void weight(int stage, int mb, int index) {
    use(BufferKind::Saved, stage, mb, index);
    if (hasOutputGradient(stage))
      use(BufferKind::OutputGradient, stage, mb, index);
  }

  const Schedule &schedule;
  const CostModel &costs;
  int rank;
  const std::vector<int> &rankOfStage;
  std::vector<Buffer> buffers;
  std::map<std::tuple<BufferKind, int, int>, size_t> indexOf;
  std::vector<int> groupStart, groupEnd;
};

/// Best-fit placement over lifetimes: buffers are taken in order of first
/// use; a buffer's range returns to the free list after its last use.
/// Among the ranges that fit, those not last held by a sent buffer win.
int64_t assignOffsets(std::vector<Buffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return buffers[a].first < buffers[b].first;
  });

  struct Range {
    int64_t size;
    bool sent;
  };
  std::map<int64_t, Range> freeRanges; // offset -> range, disjoint
  // Live buffers by last use, so that expired ones are released in order.
  std::multimap<int, size_t> live;
  int64_t poolBytes = 0;
  auto release = [&](const Buffer &buffer) {
    int64_t offset = buffer.offset, size = buffer.bytes;
    bool sent = buffer.sent;
    if (size == 0)
      return;
    auto next = freeRanges.lower_bound(offset);
    if (next != freeRanges.end() && offset + size == next->first &&
        next->second.sent == sent) {
      size += next->second.size;
      next = freeRanges.erase(next);
    }
    if (next != freeRanges.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second.size == offset &&
          prev->second.sent == sent) {
        prev->second.size += size;
        return;
      }
    }
    freeRanges[offset] = Range{size, sent};
  };
  auto better = [](const Range &candidate, const Range &best) {
    if (candidate.sent != best.sent)
      return !candidate.sent;
    return candidate.size < best.size;
  };

  for (size_t index : order) {
    Buffer &buffer = buffers[index];
    while (!live.empty() && live.begin()->first < buffer.first) {
      release(buffers[live.begin()->second]);
      live.erase(live.begin());
    }
    if (buffer.bytes > 0) {
      auto best = freeRanges.end();
      for (auto it = freeRanges.begin(); it != freeRanges.end(); ++it)
        if (it->second.size >= buffer.bytes &&
            (best == freeRanges.end() || better(it->second, best->second)))
          best = it;
      if (best != freeRanges.end()) {
        buffer.offset = best->first;
        Range rest{best->second.size - buffer.bytes, best->second.sent};
        freeRanges.erase(best);
        if (rest.size > 0)
          freeRanges[buffer.offset + buffer.bytes] = rest;
      } else {
        // Grow the pool, reusing a free range that ends at its top.
        buffer.offset = poolBytes;
        if (!freeRanges.empty()) {
          auto top = std::prev(freeRanges.end());
          if (top->first + top->second.size == poolBytes) {
            buffer.offset = top->first;
            freeRanges.erase(top);
          }
        }
        poolBytes = buffer.offset + buffer.bytes;
      }
    }
    live.emplace(buffer.last, index);
  }
  return poolBytes;
}

/// The most bytes live at any action index, over buffers that `counts`.
template <typename Predicate>
std::pair<int64_t, int> peakLive(const std::vector<Buffer> &buffers,
                                 Predicate counts) {
  std::map<int, std::pair<int64_t, int>> delta; // index -> (bytes, count)
  for (const Buffer &buffer : buffers) {
    if (!counts(buffer))
      continue;
    delta[buffer.first].first += buffer.bytes;
    delta[buffer.first].second += 1;
    delta[buffer.last + 1].first -= buffer.bytes;
    delta[buffer.last + 1].second -= 1;
  }
  int64_t bytes = 0, peakBytes = 0;
  int count = 0, peakCount = 0;
  for (const auto &[index, change] : delta) {
    bytes += change.first;
    count += change.second;
    peakBytes = std::max(peakBytes, bytes);
    peakCount = std::max(peakCount, count);
  }
  return {peakBytes, peakCount};
}
} // namespace

BufferPlan pipeweave::plan::planBuffers(const Schedule &schedule,
                                        const CostModel &costs) {
  std::vector<int> rankOfStage = schedule.stageRanks();

  BufferPlan plan;
  for (int rank = 0; rank < schedule.numRanks; ++rank) {
    RankPlan rankPlan;
    rankPlan.buffers = RankLifetimes(schedule, costs, rank, rankOfStage).run();
    rankPlan.poolBytes = assignOffsets(rankPlan.buffers);
    rankPlan.peakLiveBytes =
        peakLive(rankPlan.buffers, [](const Buffer &) { return true; }).first;
    std::tie(rankPlan.peakSavedBytes, rankPlan.peakSavedCount) =
        peakLive(rankPlan.buffers, [](const Buffer &buffer) {
          return buffer.kind == BufferKind::Saved;
        });
    plan.ranks.push_back(std::move(rankPlan));
  }
  return plan;
}

int pipeweave::plan::findBuffer(const RankPlan &plan, BufferKind kind,
                                int stage, int microbatch) {
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const Buffer &buffer = plan.buffers[i];
    if (buffer.kind == kind && buffer.stage == stage &&
        buffer.microbatch == microbatch)
      return static_cast<int>(i);
  }
  return -1;
}
